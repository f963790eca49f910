"""RLMRec (Ren et al., WWW 2024): ID embeddings aligned with language (profile) embeddings E.

The backbone scores with plain ID embeddings, exactly as ``base``; RLMRec only adds a
training loss that ties them to the frozen semantic vectors E (item_language, and
user_language when --user_emb is given):

``rlmrec_con`` (contrastive alignment, HKUDS/RLMRec ``*_plus`` models)
    InfoNCE between the ID vectors and MLP(E), MLP = Linear(d_s -> (d_s+d)/2) ->
    LeakyReLU -> Linear(-> d), cosine similarities / RLMREC_CON_TEMPERATURE, weight
    RLMREC_CON_WEIGHT (the original's kd_weight 1e-2, kd_temperature 0.2).
``rlmrec_gen`` (generative alignment, ``*_gene`` models)
    Each training step masks a random RLMREC_MASK_RATIO of the items (and users, when
    they have language vectors): their rows in the table the backbone sees are replaced
    by one learnable mask token (zero-initialised, as RLMRec's NodeMask). The masked
    items' ID vectors must reconstruct their E through MLP(d -> (d_s+d)/2 -> d_s),
    scored by InfoNCE with RLMREC_GEN_TEMPERATURE, weight RLMREC_GEN_WEIGHT (the
    original's re_temperature / recon_weight; defaults are its Amazon values
    0.15 / 0.5 / 0.1; Yelp used 0.05 / 0.1 / 0.01).

Deliberate differences from the original code (LightGCN with BPR triples):
- Which entities are aligned. The original aligns the batch's users, positive and
  negative items. A sequential batch has no explicit pos/neg lists, so con aligns the
  distinct items of the batch's inputs (the "positives" side) plus one uniformly drawn
  item per row (the original's negatives are uniform random items), and the batch's
  users when user language vectors exist. Negatives of the InfoNCE are the other
  entities of that set (the original uses all users for the user term; in-batch here).
  BiasMF's longtail batches carry no inputs, so there the random items do the work.
- Masking in gen. In LightGCN a masked node is still represented after propagation by
  its neighbours, and that propagated vector reconstructs the profile. Our backbones
  have no propagation over the item table, so the masked rows are hidden from the
  backbone for that step (it must rank and read histories without them: an item-level
  denoising pressure) while their own, unmasked ID vectors do the reconstruction. This
  is what "ID embeddings must reconstruct E" says; the mask only decides which ones
  carry the reconstruction loss and which the backbone loses for a step.
- The InfoNCE is computed over at most RLMREC_MAX_SET entities per step (a random
  subset beyond that), so it stays affordable with hundreds of thousands of items.
- AlphaFuse's re-implementation replaces both losses by 1 - mean cosine over all items
  (weight 0.1) and drops the masking; we keep RLMRec's own InfoNCE losses.
- ID vectors are initialised as in ``base`` (N(0, 0.02)), not Xavier, so that ``base``
  and RLMRec differ only in the alignment loss.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pte.reps.base import Batch, RepContext, Representation, id_table
from pte.reps.common import frozen, item_language, user_language

RLMREC_CON_WEIGHT = 1e-2        # kd_weight: weight of the contrastive alignment loss
RLMREC_CON_TEMPERATURE = 0.2    # kd_temperature
RLMREC_GEN_WEIGHT = 0.1         # recon_weight (Yelp: 0.01)
RLMREC_GEN_TEMPERATURE = 0.5    # re_temperature (Yelp: 0.1)
RLMREC_MASK_RATIO = 0.15        # share of items (and users) masked per step in gen (Yelp: 0.05)
RLMREC_MAX_SET = 4096           # at most this many entities per InfoNCE term and step


def info_nce(x: torch.Tensor, y: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean InfoNCE of row i of x against row i of y, the other rows of y as negatives (cosine / T)."""
    logits = F.normalize(x, dim=-1) @ F.normalize(y, dim=-1).T / temperature
    return F.cross_entropy(logits, torch.arange(len(x), device=x.device))


def _cap(ids: torch.Tensor, limit: int) -> torch.Tensor:
    return ids if len(ids) <= limit else ids[torch.randperm(len(ids), device=ids.device)[:limit]]


def _rlmrec_mlp(d_in: int, d_out: int) -> nn.Module:
    """RLMRec's MLP: Linear(d_in -> (d_in + d_out) / 2) -> LeakyReLU -> Linear(-> d_out), Xavier weights."""
    hidden = (d_in + d_out) // 2
    net = nn.Sequential(nn.Linear(d_in, hidden), nn.LeakyReLU(), nn.Linear(hidden, d_out))
    for m in net:
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
    return net


class _RLMRec(Representation):
    """ID tables for items and users plus the frozen language vectors they are aligned with."""
    READS = {"item_emb": "item_text"}     # language embeddings E of the items' own text

    def __init__(self, ctx: RepContext):
        super().__init__()
        self.dim, self.n_items, self.n_users = ctx.dim, ctx.ds.n_items, ctx.ds.n_users
        self.items = id_table(self.n_items, ctx.dim)
        self.users = id_table(self.n_users, ctx.dim)
        self.register_buffer("item_lang", frozen(item_language(ctx)))
        users = user_language(ctx)
        self.register_buffer("user_lang", None if users is None else frozen(users))

    def _batch_users(self, batch: Batch) -> torch.Tensor | None:
        if self.user_lang is None or batch.users is None:
            return None
        users = torch.unique(batch.users[batch.users >= 0])
        return _cap(users, RLMREC_MAX_SET) if len(users) > 1 else None


class RLMRecCon(_RLMRec):
    """rlmrec_con: InfoNCE between ID vectors and MLP(E)."""

    def __init__(self, ctx: RepContext):
        super().__init__(ctx)
        self.mlp = _rlmrec_mlp(self.item_lang.shape[1], ctx.dim)
        if self.user_lang is not None:  # the original shares one MLP; a second one only if the widths differ
            same = self.user_lang.shape[1] == self.item_lang.shape[1]
            self.user_mlp = self.mlp if same else _rlmrec_mlp(self.user_lang.shape[1], ctx.dim)

    def item_table(self) -> torch.Tensor:
        return self.items.weight

    def user_vectors(self, users: torch.Tensor) -> torch.Tensor:
        return self.users(users)

    def aux_loss(self, batch: Batch) -> torch.Tensor:
        inputs = batch.inputs
        seen = inputs[(inputs >= 0) & (inputs < self.n_items)]
        drawn = torch.randint(self.n_items, (len(inputs),), device=inputs.device)
        ids = _cap(torch.unique(torch.cat([seen, drawn])), RLMREC_MAX_SET)
        loss = info_nce(self.items.weight[ids], self.mlp(self.item_lang[ids]), RLMREC_CON_TEMPERATURE)
        users = self._batch_users(batch)
        if users is not None:
            loss = loss + info_nce(self.users.weight[users], self.user_mlp(self.user_lang[users]),
                                   RLMREC_CON_TEMPERATURE)
        return RLMREC_CON_WEIGHT * loss


class RLMRecGen(_RLMRec):
    """rlmrec_gen: masked ID vectors reconstruct E through an MLP (InfoNCE-scored)."""

    def __init__(self, ctx: RepContext):
        super().__init__(ctx)
        self.mask_token = nn.Parameter(torch.zeros(1, ctx.dim))
        self.mlp = _rlmrec_mlp(ctx.dim, self.item_lang.shape[1])
        if self.user_lang is not None:
            same = self.user_lang.shape[1] == self.item_lang.shape[1]
            self.user_mlp = self.mlp if same else _rlmrec_mlp(ctx.dim, self.user_lang.shape[1])
        self._masked_items: torch.Tensor | None = None
        self._masked_users: torch.Tensor | None = None

    def _draw(self, n: int, device) -> torch.Tensor:
        """A fresh random mask over n rows (at least one row), as RLMRec's NodeMask."""
        k = max(int(n * RLMREC_MASK_RATIO), 1)
        return torch.randperm(n, device=device)[:k]

    def _masked(self, table: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        keep = torch.ones(len(table), 1, device=table.device)
        keep[rows] = 0.0
        return table * keep + self.mask_token * (1.0 - keep)

    def item_table(self) -> torch.Tensor:
        table = self.items.weight
        if not self.training or RLMREC_MASK_RATIO <= 0:
            return table
        self._masked_items = self._draw(self.n_items, table.device)
        return self._masked(table, self._masked_items)

    def user_vectors(self, users: torch.Tensor) -> torch.Tensor:
        if not self.training or self.user_lang is None or RLMREC_MASK_RATIO <= 0:
            return self.users(users)
        # users are masked too when they have language vectors to reconstruct (as in RLMRec)
        self._masked_users = self._draw(self.n_users, users.device)
        hidden = torch.zeros(self.n_users, dtype=torch.bool, device=users.device)
        hidden[self._masked_users] = True
        vec = self.users(users)
        return torch.where(hidden[users].unsqueeze(-1), self.mask_token.expand_as(vec), vec)

    def aux_loss(self, batch: Batch) -> torch.Tensor | None:
        loss = None
        rows = self._masked_items
        if rows is None:  # the backbone did not ask for a training table this step: draw now
            rows = self._draw(self.n_items, self.items.weight.device)
        rows = _cap(rows, RLMREC_MAX_SET)
        if len(rows) > 1:
            loss = info_nce(self.mlp(self.items.weight[rows]), self.item_lang[rows], RLMREC_GEN_TEMPERATURE)
        users = self._masked_users
        if users is not None and len(users) > 1:
            users = _cap(users, RLMREC_MAX_SET)
            term = info_nce(self.user_mlp(self.users.weight[users]), self.user_lang[users], RLMREC_GEN_TEMPERATURE)
            loss = term if loss is None else loss + term
        self._masked_items = self._masked_users = None
        return None if loss is None else RLMREC_GEN_WEIGHT * loss
