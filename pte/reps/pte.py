"""PtE: LLM profile embeddings, made task-aligned and fused with ID embeddings.

    item_i = m_i · ID_i + P(E_i)        E = item profile embeddings (or any item embedding file)
    user_u = m_u · ID_u + Q(U_u)        U = user profile embeddings (BiasMF's user vectors)
    sequence models add Q(U_u) to their final state for users that have a profile

m = 1 for items/users with training interactions and 0 otherwise, so anything unseen in
training is represented by its profile alone. PTE_VARIANT picks how profiles enter:
  raw         P, Q = a fixed PCA of the embeddings (nothing learned on the profile side)
  projection  P, Q = MLPs trained end-to-end by the backbone's own loss
  aligned     E, U = the contrastively aligned files written by llm/align.py, then the MLPs
Files: --item_emb/--user_emb, else outputs/<data>/<setting>/embeddings/{item,user}_profile.npy;
the aligned variant reads <stem>_aligned.npy from that folder.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from pte.data import DataError
from pte.embeddings import load_embeddings
from pte.paths import embeddings_dir
from pte.reps.base import RepContext, Representation, id_table
from pte.reps.common import fit_dim, frozen, mlp

PTE_VARIANT = "aligned"     # raw | projection | aligned
PTE_FUSE_ID = True          # add ID vectors for items/users seen in training
PTE_USER_SIDE = True        # use user profiles when a file exists
PTE_HIDDEN = 256            # MLP width
PTE_DROPOUT = 0.1
VARIANTS = ("raw", "projection", "aligned")


def resolve(ctx: RepContext, kind: str) -> Path | None:
    """The embedding file this run reads for ``kind`` (item|user); None if there is no user file."""
    folder = embeddings_dir(ctx.ds.name, ctx.split.setting)
    given = ctx.options.get(f"{kind}_emb")
    base = Path(given) if given else folder / f"{kind}_profile.npy"
    path = folder / f"{base.stem}_aligned.npy" if PTE_VARIANT == "aligned" else base
    if path.exists():
        return path
    if kind == "user" and not given:
        return None  # no user profiles (e.g. PtE on item text): item side only
    fix = (f"python llm/align.py --data {ctx.ds.name} --setting {ctx.split.setting}"
           + (f" --{kind}_emb {base}" if given else "")) if PTE_VARIANT == "aligned" and base.exists() else \
        (f"python llm/lora/inference_base_{'item' if kind == 'item' else 'mask'}.py --data {ctx.ds.name} "
         f"--setting {ctx.split.setting}, or pass --{kind}_emb (e.g. --item_emb {ctx.ds.root}/item_text.npy)")
    raise DataError(f"{path}: PtE ({PTE_VARIANT}) needs this {kind} embedding file. Make it with: {fix}")


class ProfileSide(nn.Module):
    """ID part (masked for ids unseen in training) + profile part, for items or users."""

    def __init__(self, emb: np.ndarray, seen: np.ndarray, dim: int, device):
        super().__init__()
        self.register_buffer("has_profile", frozen(np.abs(emb).sum(1) > 0, device))
        self.register_buffer("seen", frozen(seen, device))
        self.ids = id_table(len(emb), dim) if PTE_FUSE_ID else None
        if PTE_VARIANT == "raw":
            self.register_buffer("fixed", frozen(fit_dim(emb, dim), device))
            self.proj = None
        else:
            self.register_buffer("emb", frozen(emb, device))
            self.proj = mlp(emb.shape[1], dim, PTE_HIDDEN, PTE_DROPOUT)

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
            out = out + ids * (self.seen if idx is None else self.seen[idx]).unsqueeze(-1)
        return out


class PtE(Representation):
    def __init__(self, ctx: RepContext):
        super().__init__()
        if PTE_VARIANT not in VARIANTS:
            raise SystemExit(f"error: --pte_variant must be one of {VARIANTS}, got {PTE_VARIANT!r}")
        self.dim = ctx.dim
        split = ctx.split
        item_seen = np.bincount(split.train_items, minlength=ctx.ds.n_items) > 0
        user_seen = np.diff(split.train_ptr) > 0
        self.files = {"item": resolve(ctx, "item"), "user": resolve(ctx, "user") if PTE_USER_SIDE else None}
        self.item = ProfileSide(load_embeddings(self.files["item"], ctx.ds, "item"), item_seen, ctx.dim, ctx.device)
        if self.files["user"] is not None:
            self.user = ProfileSide(load_embeddings(self.files["user"], ctx.ds, "user"), user_seen, ctx.dim, ctx.device)
        else:  # no user profiles: plain user IDs, for backbones that need user vectors
            self.user = None
            self.user_ids = id_table(ctx.ds.n_users, ctx.dim)

    def item_table(self) -> torch.Tensor:
        return self.item()

    def user_vectors(self, users: torch.Tensor) -> torch.Tensor:
        return self.user(users) if self.user is not None else self.user_ids(users)

    def sequence_user(self, users: torch.Tensor) -> torch.Tensor | None:
        if self.user is None:
            return None
        known = (users >= 0).unsqueeze(-1).float()
        return self.user.profile(users.clamp(min=0)) * known
