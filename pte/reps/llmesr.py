"""LLM-ESR (Liu et al., NeurIPS 2024): dual-view items fused by cross-attention, plus
retrieval-augmented self-distillation for long-tail users.

What it does here
- Two views of every item, each DIM/2 wide, so item_table() = [id | adapter(E)] is DIM
  wide and the backbone's hidden size stays DIM. Semantic view: frozen language
  embedding E through adapter Linear(d_lang -> d_lang/2) -> Linear(-> DIM/2), no
  activation. Collaborative view: an ID table initialised from PCA(E, DIM/2) (centred,
  not whitened), trained.
- contextualize(x, real) splits the input sequence into the two views and applies two
  cross-attentions (LLMESR_HEADS heads, bias-free Q/K/V plus an output Linear):
  llm2id (queries: semantic view, keys/values: ID view) gives the new ID sequence,
  id2llm (queries: ID, keys/values: semantic) the new semantic one; as in the authors'
  code the residual to the original view is off (LLMESR_RESIDUAL = 0). The fused
  [id | llm] sequence then enters the backbone's encoder; the user state scores items
  by one dot product with [id | adapter(E)], i.e. id.id + llm.llm as in the original.
- aux_loss: self-distillation. Each user's LLMESR_NEIGHBOURS most similar users (cosine
  of user language vectors, oneself excluded, only users with training interactions)
  are fixed once at construction. Per batch, their training sequences (last L items,
  L = the batch's input width) go through the same model without gradient; the mean of
  their last-position states is the target of MSE(user state, mean) with weight
  LLMESR_ALPHA. Rows with user -1, an empty history or no neighbours are skipped.
  User language vectors: --user_emb when given (e.g. PtE's profile embeddings), else the
  mean of E over the user's TRAINING items, centred over users. This replaces the
  paper's ada-002 embedding of a prompt listing the user's titles; it reads training
  interactions only, so no validation/test item leaks into the neighbour choice. In
  coldstart only training users have training items, so only they have (and are)
  neighbours; evaluation users are never distilled.
- With a backbone that has no sequence encoder (BiasMF) there is nothing to
  contextualize or distill: the method reduces to the dual-view item table, with plain
  ID user vectors.

Deliberate differences from liuqidong07/LLM-ESR
- One encoder over the concatenated views stands in for "the same backbone applied to
  each view, outputs concatenated": attention and feed-forward layers see both halves
  together. Each view is DIM/2 wide (the original: hidden_size each, 2x in total; run
  --dim 128 to match its 64 per view).
- The cross-attentions are causal (plus key padding). The original masks padding only,
  so with its every-position training loss position t attends to item t+1, its own
  target. At the last position (the only one scored) both masks agree.
- Its backbone's causal self-attention mask is commented out (a future-leaking bug);
  our backbone stays causal.
- Positional embeddings are added by the backbone after fusion, not to each view
  before the cross-attention; dropout likewise (the backbone's).
- Loss, heads, layers, dropout and learning rate are the backbone's (LLM-ESR: BCE,
  1 head, 2 layers, dropout 0.5, lr 1e-3); set them on the backbone's command line.
- LLMESR_REFRESH = N > 0 (the default, 20) reuses every user's state for N steps
  instead of encoding each batch's neighbours afresh: targets up to N steps stale (they are
  detached either way), about 10x less encoder work per step on ml-100k. A refresh encodes
  every user, so with N fixed its cost per step grew with the users (ml-1m: 9x a training
  step's encoding, Beauty: 30x); LLMESR_REFRESH_WORK caps it at 1.5 batches per step by
  refreshing less often where there are more users (refresh_every).
- The neighbours' states are computed under no_grad (the original computes, then
  detaches: same values), and each distinct neighbour of a batch is encoded once.
- Top-100 then the first 10, as the original, is the top-10 by cosine: no 100 constant.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pte.batch import as_tensor
from pte.history import causal_mask
from pte.reps.base import Batch, RepContext, Representation, id_table
from pte.reps.common import cosine_neighbours, fit_dim, frozen, history_mean, item_language, user_language
from pte.splits import windows

LLMESR_ALPHA = 0.1          # weight of the self-distillation loss (MSE to similar users' mean state)
LLMESR_NEIGHBOURS = 10      # similar users distilled from (the original keeps 10 of its top-100)
LLMESR_HEADS = 2            # heads of each cross-attention
LLMESR_RESIDUAL = 0.0       # weight of the original view added to the cross-attended one (authors: 0)
LLMESR_CHUNK = 2048         # neighbour sequences encoded per forward pass
LLMESR_REFRESH = 20         # N: every user's state recomputed every N steps and reused in between (far
                            # cheaper on a CPU); 0: neighbours' states recomputed every step (the original)
LLMESR_REFRESH_WORK = 1.5   # and at most every n_users / (this x batch size) steps, so that refreshing costs
                            # about this many batches' encoding per step whatever the number of users
                            # (N: ml-100k 20 in every run, ml-1m 63-126, Beauty 466); 0: N steps always


class CrossAttention(nn.Module):
    """Queries from one view, keys/values from the other; bias-free Q/K/V, output Linear."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"llmesr: each view is {dim} wide, not divisible by --llmesr_heads {heads}")
        self.heads = heads
        self.q, self.k, self.v = (nn.Linear(dim, dim, bias=False) for _ in range(3))
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, y: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        b, l, d = x.shape
        q, k, v = (f(t).view(b, l, self.heads, d // self.heads).transpose(1, 2)
                   for f, t in ((self.q, x), (self.k, y), (self.v, y)))
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed.unsqueeze(1))
        return self.out(a.transpose(1, 2).reshape(b, l, d))


class LLMESR(Representation):
    READS = {"item_emb": "item_text"}     # language embeddings E of the items' own text

    def __init__(self, ctx: RepContext):
        super().__init__()
        if ctx.dim % 2:
            raise ValueError(f"llmesr splits the hidden size into two views: --dim must be even, got {ctx.dim}")
        self.dim, self.half = ctx.dim, ctx.dim // 2
        self.n_items, self.n_users = ctx.ds.n_items, ctx.ds.n_users
        lang = item_language(ctx)
        d = lang.shape[1]
        self.register_buffer("lang", frozen(lang))
        self.adapter = nn.Sequential(nn.Linear(d, d // 2), nn.Linear(d // 2, self.half))
        self.ids = nn.Parameter(torch.as_tensor(fit_dim(lang, self.half)))
        self.users = id_table(self.n_users, ctx.dim)   # only for backbones with user vectors (BiasMF)
        self.llm2id = CrossAttention(self.half, LLMESR_HEADS)
        self.id2llm = CrossAttention(self.half, LLMESR_HEADS)

        self.split = ctx.split
        has_train = np.diff(ctx.split.train_ptr) > 0
        users = user_language(ctx)
        if users is None:
            users, _ = history_mean(ctx.split, lang)
            users = users - users[has_train].mean(0, keepdims=True) if has_train.any() else users
            queries = has_train
        else:
            queries = np.ones(self.n_users, bool)
        table = cosine_neighbours(users, LLMESR_NEIGHBOURS, candidates=has_train, queries=queries)
        self.register_buffer("neighbours", torch.as_tensor(table), persistent=False)
        self._sequences: dict[int, torch.Tensor] = {}
        self._states: tuple[int, int, torch.Tensor] | None = None   # (length, steps since refresh, [n_users, dim])
        self._batch = 1                                              # the largest batch seen (refresh_every)

    # ---- views
    def item_table(self) -> torch.Tensor:
        return torch.cat([self.ids, self.adapter(self.lang)], -1)

    def user_vectors(self, users: torch.Tensor) -> torch.Tensor:
        return self.users(users)

    def contextualize(self, x: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        idv, llm = x[..., :self.half], x[..., self.half:]
        allowed = causal_mask(real)
        new_id = self.llm2id(llm, idv, allowed) + LLMESR_RESIDUAL * idv
        new_llm = self.id2llm(idv, llm, allowed) + LLMESR_RESIDUAL * llm
        return torch.cat([new_id, new_llm], -1)

    # ---- retrieval-augmented self-distillation
    def sequences(self, length: int, device: torch.device) -> torch.Tensor:
        """[n_users, length] every user's last training items, left-padded with n_items (int32)."""
        key = (length, str(device))
        if key not in self._sequences:
            ptr = self.split.train_ptr
            rows = windows(self.split.train_items, ptr[:-1], ptr[1:], length)
            self._sequences[key] = as_tensor(rows, self.n_items, device).to(torch.int32)
        return self._sequences[key]

    def aux_loss(self, batch: Batch) -> torch.Tensor | None:
        if LLMESR_ALPHA <= 0 or batch.encode is None or batch.users is None or LLMESR_NEIGHBOURS <= 0:
            return None
        users = batch.users
        nb = torch.full((len(users), self.neighbours.shape[1]), -1, dtype=torch.long, device=users.device)
        known = users >= 0
        nb[known] = self.neighbours[users[known]]
        valid = nb >= 0
        keep = valid.any(1) & (batch.inputs != self.n_items).any(1)   # skip empty histories too
        if not keep.any():
            return None
        nb, valid = nb[keep], valid[keep]
        uniq, inv = torch.unique(nb[valid], return_inverse=True)
        feats = self.neighbour_states(uniq, batch)
        gathered = feats.new_zeros(*nb.shape, feats.shape[1])
        gathered[valid] = feats[inv]
        target = gathered.sum(1) / valid.sum(1, keepdim=True)
        return LLMESR_ALPHA * F.mse_loss(batch.hidden[keep], target)

    def neighbour_states(self, uniq: torch.Tensor, batch: Batch) -> torch.Tensor:
        """[len(uniq), dim] encoder states of these users' training sequences (no gradient)."""
        length, device = batch.inputs.shape[1], batch.inputs.device
        if LLMESR_REFRESH <= 0:
            return self.encode(batch.encode, self.sequences(length, device)[uniq])
        self._batch = max(self._batch, len(batch.users))
        if self._states is None or self._states[0] != length or self._states[1] >= self.refresh_every():
            self._states = (length, 0, self.encode(batch.encode, self.sequences(length, device)))
        self._states = (length, self._states[1] + 1, self._states[2])
        return self._states[2][uniq]

    def get_extra_state(self) -> dict:
        """The cached user states and their age go into state_dict, so a resumed run refreshes
        them when an uninterrupted one would (pte.experiment.Checkpoint)."""
        length, steps, table = self._states or (0, 0, None)
        return {"batch": self._batch, "length": length, "steps": steps, "table": table}

    def set_extra_state(self, state: dict) -> None:
        self._batch = state["batch"]
        table = state["table"]
        self._states = None if table is None else (state["length"], state["steps"], table.to(self.neighbours.device))

    def refresh_every(self) -> int:
        """Steps between refreshes of every user's state: LLMESR_REFRESH, or more where a refresh
        (n_users sequences) would cost over LLMESR_REFRESH_WORK batches (the largest seen) per step."""
        if LLMESR_REFRESH_WORK <= 0:
            return LLMESR_REFRESH
        return max(LLMESR_REFRESH, math.ceil(self.n_users / (LLMESR_REFRESH_WORK * self._batch)))

    @staticmethod
    def encode(encode, seqs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([encode(seqs[s:s + LLMESR_CHUNK].long()) for s in range(0, len(seqs), LLMESR_CHUNK)])
