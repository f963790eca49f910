"""WhitenRec (Zhang et al., ICDE 2024): whitened, frozen E, then a trainable adapter; no item IDs.

Here: E is centred and whitened over all items (covariance -> identity; WHITENREC_KIND pca, as
AlphaFuse's rerun "WAP" does, or zca), all language dims kept and frozen; a trainable
Linear(d_lang, dim) + GELU maps it to the backbone (AlphaFuse's adapter; WHITENREC_HIDDEN > 0
gives a two-layer MLP). MoRec with the same adapter differs from this only by the whitening.

WhitenRec+ (optional, WHITENREC_GROUPS = g > 1): a second, relaxed view whitens E within g
groups of consecutive language dims (group ZCA whitening: each group's own covariance ->
identity, correlations across groups kept), with its own adapter; the item is the mean of the
two adapted views. This is our reading of the paper's ensemble of fully and relaxed whitened
representations, written from its description, not from reference code; off by default.

Deliberate differences: eigenvalues below 1e-6 of the largest are treated as zero (the
pseudo-inverse), since sentence encoders can leave dead dimensions (MiniLM has 2) that a literal
S^-1/2 would blow up to inf/NaN. User side as MoRec: user IDs in longtail, none in coldstart.
"""
from __future__ import annotations

import numpy as np
import torch

from pte.reps.base import RepContext, Representation
from pte.reps.common import adapter, frozen, item_language, user_ids, whiten

WHITENREC_KIND = "pca"   # pca | zca (equivalent up to a rotation the adapter can absorb)
WHITENREC_GROUPS = 0     # > 1: WhitenRec+, adding a group-whitened (relaxed) view with this many groups
WHITENREC_HIDDEN = 0     # 0: Linear + GELU adapter (AlphaFuse); > 0: two-layer MLP with this hidden width
WHITENREC_DROPOUT = 0.0  # dropout inside the two-layer MLP


def group_whiten(x: np.ndarray, groups: int) -> np.ndarray:
    """ZCA whitening within each of ``groups`` blocks of consecutive columns (relaxed whitening)."""
    return np.concatenate([whiten(block, "zca") for block in np.array_split(x, groups, axis=1)], axis=1)


class WhitenRec(Representation):
    READS = {"item_emb": "item_text"}     # language embeddings E of the items' own text

    def __init__(self, ctx: RepContext):
        super().__init__()
        self.dim = ctx.dim
        lang = item_language(ctx)
        white = whiten(lang, WHITENREC_KIND)
        self.register_buffer("white", frozen(white), persistent=False)
        self.adapter = adapter(white.shape[1], ctx.dim, WHITENREC_HIDDEN, WHITENREC_DROPOUT)
        relaxed = group_whiten(lang, WHITENREC_GROUPS) if WHITENREC_GROUPS > 1 else None
        self.register_buffer("relaxed", None if relaxed is None else frozen(relaxed), persistent=False)
        if relaxed is not None:
            self.relaxed_adapter = adapter(relaxed.shape[1], ctx.dim, WHITENREC_HIDDEN, WHITENREC_DROPOUT)
        self.users = user_ids(ctx, ctx.dim)

    def item_table(self) -> torch.Tensor:
        table = self.adapter(self.white)
        if self.relaxed is not None:
            table = (table + self.relaxed_adapter(self.relaxed)) / 2
        return table

    def user_vectors(self, users: torch.Tensor) -> torch.Tensor | None:
        return None if self.users is None else self.users(users)
