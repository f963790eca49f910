"""MoRec (Yuan et al., SIGIR 2023): no item IDs; item = adapter(E), E the frozen language embedding.

Here: E (rescaled, see MOREC_SCALE) is fixed and a trainable adapter maps it to the backbone's
width. The default adapter is AlphaFuse's reimplementation of MoRec, whose numbers the paper's
tables mirror: one Linear(d_lang, dim) + GELU; MOREC_HIDDEN > 0 gives a two-layer MLP instead.

Deliberate differences from the original MoRec, which fine-tunes the text encoder end to end:
the encoder is frozen (the paper's and AlphaFuse's runs did the same). The item side holds no
per-item parameter, so every item, seen in training or not, is scored from its text alone.
User side: MoRec has none. Backbones that need user vectors in settings whose users have
trained (BiasMF, longtail) get a plain trainable user ID table; in coldstart there is none
(user_vectors returns None and BiasMF folds users in from their history).
"""
from __future__ import annotations

import torch

from pte.reps.base import RepContext, Representation
from pte.reps.common import adapter, frozen, item_language, rescale, user_ids

MOREC_SCALE = 0.0     # multiplier on E; 0: make E's entries RMS 1 (AlphaFuse: 40 for its 1536-d unit-norm E)
MOREC_HIDDEN = 0      # 0: Linear + GELU adapter (AlphaFuse's MoRec); > 0: two-layer MLP with this hidden width
MOREC_DROPOUT = 0.0   # dropout inside the two-layer MLP (MOREC_HIDDEN > 0)


class MoRec(Representation):
    READS = {"item_emb": "item_text"}     # language embeddings E of the items' own text

    def __init__(self, ctx: RepContext):
        super().__init__()
        self.dim = ctx.dim
        lang = rescale(item_language(ctx), MOREC_SCALE)
        self.register_buffer("lang", frozen(lang), persistent=False)
        self.adapter = adapter(lang.shape[1], ctx.dim, MOREC_HIDDEN, MOREC_DROPOUT)
        self.users = user_ids(ctx, ctx.dim)

    def item_table(self) -> torch.Tensor:
        return self.adapter(self.lang)

    def user_vectors(self, users: torch.Tensor) -> torch.Tensor | None:
        return None if self.users is None else self.users(users)
