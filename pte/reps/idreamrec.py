"""iDreamRec (DreamRec with fixed language item embeddings): the item table is E, whitened, frozen.

As AlphaFuse reran it ("WAP" embeddings without an adapter): E is centred and PCA-whitened with
all language dims kept (covariance -> identity), and nothing on the item side trains. The
table's width is E's, so ``rep.dim`` = d_lang (384 for MiniLM), not the backbone's DIM;
backbones take rep.dim as their hidden size. Meant for DreamRec (the generated embedding is
scored against these fixed vectors); any backbone accepts it.

Deliberate differences: eigenvalues below 1e-6 of the largest are treated as zero, so dead
dimensions of E (MiniLM has 2) give all-zero columns instead of inf/NaN. User side: user IDs in
longtail (BiasMF needs them), none in coldstart, where the whole representation has no parameter.
"""
from __future__ import annotations

import torch

from pte.reps.base import RepContext, Representation
from pte.reps.common import frozen, item_language, user_ids, whiten

IDREAMREC_KIND = "pca"   # pca | zca whitening of E


class IDreamRec(Representation):
    backbones = ("DreamRec",)
    READS = {"item_emb": "item_text"}     # language embeddings E of the items' own text

    def __init__(self, ctx: RepContext):
        super().__init__()
        table = whiten(item_language(ctx), IDREAMREC_KIND)
        self.dim = table.shape[1]
        self.register_buffer("table", frozen(table), persistent=False)
        self.users = user_ids(ctx, self.dim)

    def item_table(self) -> torch.Tensor:
        return self.table

    def user_vectors(self, users: torch.Tensor) -> torch.Tensor | None:
        return None if self.users is None else self.users(users)
