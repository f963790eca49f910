"""PtE: LLM profile embeddings, made task-aligned and fused with ID embeddings.

    item_i = m_i · ID_i + P(E_i)        E = item profile embeddings (or any item embedding file)
    user_u = m_u · ID_u + Q(U_u)        U = user profile embeddings (BiasMF's user vectors)
    state_t += R(mean of E over the items at or before t)   (sequence models, every position)

m = 1 for items/users with training interactions and 0 otherwise, so anything unseen in
training is represented by its profile alone. On the backbones in PTE_FROZEN (DreamRec) the item
table is instead E itself, PCA-whitened to DIM components and frozen (no ID, nothing learned on
the item side): the way iDreamRec gives a generative model a fixed space to generate in, which
on DreamRec's validation beats the fused table by far (RESULTS.md, "PtE on DreamRec").

Sequence models get their user side from the history itself, position by position: a user
profile summarises the whole training sequence, so at a training position it would hold the
very targets that position predicts (and at evaluation it cannot), while the pooled profiles of
the items before t never do; this also gives coldstart users, who have no profile, a user side.
Three methods differ in how profiles enter:
  pte             E, U = the contrastively aligned files of llm/align.py, then MLPs P, Q
  pte_projection  E, U = the profile embeddings themselves, MLPs trained by the backbone's loss
  pte_raw         P, Q = a fixed PCA of the profile embeddings (nothing learned on the profile side)
Each reads the files it declares (READS, resolved by pte.pipeline) unless --item_emb /
--user_emb name others; the run prints the files it read.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from pte.reps.base import RepContext, Representation, id_table
from pte.reps.common import fit_dim, frozen, mlp, unit_projection, whiten

PTE_FUSE_ID = True          # add ID vectors for items/users seen in training
PTE_USER_SIDE = True        # use user profiles when the run has them (BiasMF's user vectors)
PTE_PREFIX_USER = True      # sequence models: add R(mean profile of the items so far) at every position
PTE_HIDDEN = 256            # MLP width
PTE_DROPOUT = 0.1
PTE_FROZEN = ("DreamRec",)   # backbones whose item table is the whitened, frozen E (iDreamRec's way); "": none
PTE_FROZEN_TABLE = "whiten"  # the frozen table: whiten (E's top DIM principal components, whitened) | unit (E's rows
                            # at unit length on their top DIM singular directions: the aligner's cosine geometry)
PTE_ID_DROP = 0.0           # training only: each step, this share of the seen items/users lose their ID part, so
                            # the profile part must carry them as it does unseen ones (DropoutNet's idea); 0 = off


class ProfileSide(nn.Module):
    """ID part (masked for ids unseen in training) + profile part, for items or users. ``fixed``:
    the profile part is this table as it is (nothing learned on the profile side); else MLP(emb)."""

    def __init__(self, emb: np.ndarray, seen: np.ndarray, dim: int, device, fixed: np.ndarray | None = None,
                 ids: bool = True):
        super().__init__()
        self.register_buffer("has_profile", frozen(np.abs(emb).sum(1) > 0, device))
        self.register_buffer("seen", frozen(seen, device))
        self.ids = id_table(len(emb), dim) if ids else None
        if fixed is not None:
            self.register_buffer("fixed", frozen(fixed, device))
            self.proj = None
        else:
            self.register_buffer("emb", frozen(emb, device))
            self.proj = mlp(emb.shape[1], dim, PTE_HIDDEN, PTE_DROPOUT)

    def profile_input(self) -> torch.Tensor:
        """The embeddings this side projects (pte_raw: the fixed PCA rows themselves)."""
        return self.fixed if self.proj is None else self.emb

    def profile(self, idx: torch.Tensor | None = None) -> torch.Tensor:
        if self.proj is None:
            out = self.fixed if idx is None else self.fixed[idx]
        else:
            out = self.proj(self.emb if idx is None else self.emb[idx])
        mask = self.has_profile if idx is None else self.has_profile[idx]
        return out * mask.unsqueeze(-1)

    def forward(self, idx: torch.Tensor | None = None) -> torch.Tensor:
        out = self.profile(idx)
        if self.ids is not None:
            ids = self.ids.weight if idx is None else self.ids(idx)
            keep = self.seen if idx is None else self.seen[idx]
            if self.training and PTE_ID_DROP > 0:
                keep = keep * (torch.rand(keep.shape, device=keep.device) >= PTE_ID_DROP)
            out = out + ids * keep.unsqueeze(-1)
        return out


class PtE(Representation):
    """pte: aligned profile embeddings (llm/align.py) through learned MLPs, fused with IDs."""
    READS = {"item_emb": "item_profile_aligned", "user_emb": "user_profile_aligned"}
    FIXED = False               # True: a fixed PCA instead of the MLPs

    @classmethod
    def reads(cls, setting: str) -> dict[str, str]:
        # coldstart's evaluation users are unseen: nobody has a user profile there
        return {k: v for k, v in cls.READS.items() if setting != "coldstart" or k == "item_emb"}

    def __init__(self, ctx: RepContext):
        super().__init__()
        self.dim = ctx.dim
        split = ctx.split
        item_seen = np.bincount(split.train_items, minlength=ctx.ds.n_items) > 0
        user_seen = np.diff(split.train_ptr) > 0
        items = ctx.read("item_emb", "item")
        self.profiles = frozen(items)   # as read, for the retrieval term (not a parameter or buffer)
        if ctx.backbone in PTE_FROZEN:
            if PTE_FROZEN_TABLE not in ("whiten", "unit"):
                raise ValueError(f"--pte_frozen_table must be whiten or unit, got {PTE_FROZEN_TABLE!r}")
            table = whiten(items, "pca", ctx.dim) if PTE_FROZEN_TABLE == "whiten" else unit_projection(items, ctx.dim)
            self.item = ProfileSide(items, item_seen, ctx.dim, ctx.device, table, ids=False)
        else:
            self.item = ProfileSide(items, item_seen, ctx.dim, ctx.device, self.fixed(items, ctx.dim), PTE_FUSE_ID)
        users = ctx.read("user_emb", "user") if PTE_USER_SIDE else None
        if users is not None:
            self.user = ProfileSide(users, user_seen, ctx.dim, ctx.device, self.fixed(users, ctx.dim), PTE_FUSE_ID)
        else:  # no user profiles: plain user IDs, for backbones that need user vectors
            self.user = None
            self.user_ids = id_table(ctx.ds.n_users, ctx.dim)
        self.use_prefix = PTE_PREFIX_USER
        d_in = self.item.profile_input().shape[1]
        self.prefix = mlp(d_in, ctx.dim, PTE_HIDDEN, PTE_DROPOUT) if PTE_PREFIX_USER and not self.FIXED else None

    def fixed(self, emb: np.ndarray, dim: int) -> np.ndarray | None:
        """pte_raw's fixed PCA of ``emb``; None for the methods that learn MLPs."""
        return fit_dim(emb, dim) if self.FIXED else None

    def item_table(self) -> torch.Tensor:
        return self.item()

    def retrieval_table(self) -> torch.Tensor:
        return self.profiles

    def user_vectors(self, users: torch.Tensor) -> torch.Tensor:
        return self.user(users) if self.user is not None else self.user_ids(users)

    def sequence_user(self, users: torch.Tensor | None, inputs: torch.Tensor) -> torch.Tensor | None:
        """R(causal mean of the item profile embeddings up to each position); 0 before the first item.
        R is an MLP (pte_raw: none, the fixed PCA rows are pooled as they are)."""
        if not self.use_prefix:
            return None
        table = self.item.profile_input()
        n = table.shape[0]
        real = (inputs != n).unsqueeze(-1).float()
        pooled = (table[inputs.clamp(max=n - 1)] * real).cumsum(1) / real.cumsum(1).clamp(min=1)
        out = pooled if self.prefix is None else self.prefix(pooled)
        return out * (real.cumsum(1) > 0).float()


class PtEProjection(PtE):
    """pte_projection: the profile embeddings before alignment, through MLPs trained by the backbone."""
    READS = {"item_emb": "item_profile", "user_emb": "user_profile"}


class PtERaw(PtEProjection):
    """pte_raw: a fixed PCA of the profile embeddings (nothing learned on the profile side)."""
    FIXED = True
