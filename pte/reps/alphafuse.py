"""AlphaFuse (Hu et al., SIGIR 2025): ID embeddings learned in the null space of E, semantics frozen.

E (rescaled) is centred; the covariance's eigen-decomposition (U, S descending) gives directions.
The table has ``dim`` columns, each a fixed unit direction of the language space (``basis``):
the first ``kept`` columns hold the frozen semantic coordinates, standardised (S^-1/2); the last
n = dim - kept columns are the injection space, where a trainable ID table of width n is added:
    table = [ sem[:, :kept] | sem[:, kept:] + ID ]
so the ID part changes nothing along the kept semantic directions (its back-projection to the
language space, ID @ basis[:, kept:]^T, is orthogonal to every kept direction).

Two readings of "null space", ALPHAFUSE_MODE:
- code: the released code (Hugo-Chinn/AlphaFuse, "AF" pipeline, cover=False): the table
  is the top-``dim`` standardised principal components and the ID is added to the last n of them
  (with the released dim 128 / null_dim 64, components 65-128 of the top 128: the least-variance
  part of the kept top-dim subspace, not the null space of the full covariance). This is the code
  that produced the published AlphaFuse numbers the paper's tables reproduce: use it to compare
  with them.
- paper (default): the method as the AlphaFuse paper and this repository's method table
  describe it: the first dim - n columns are the top principal components (standardised); the
  last n are the n smallest-eigenvalue directions of the FULL covariance (the true null space,
  dead zero-variance directions included), left unstandardised as in the released code's
  "euclidean" variants (scaling a null direction up would only amplify noise), so their
  semantic part is ~0 and the ID there is what tells items apart. Needs dim <= d_lang. It is
  also the better of the two on validation (SASRec, ml-100k coldstart, 8 epochs: NDCG@20
  0.0920 vs 0.0861 for code).
n = ALPHAFUSE_NULL_DIM (0: dim // 2, i.e. the released 64 of 128 scaled to any width), or, with
ALPHAFUSE_NULL_THRES > 0, the number of eigenvalues <= that threshold (of the rescaled E).
ALPHAFUSE_COVER replaces the semantic part of the injection columns by the ID instead of adding.

Deliberate differences: the ID table starts at zeros (ALPHAFUSE_ID_INIT; the released default is
N(0, 1), its README uses zeros for Movies, and ml-100k is movies), so an item never trained is
scored by its semantics alone; standardisation treats eigenvalues below 1e-6 of the largest as 0
(pseudo-inverse) instead of dividing by ~0. The released SASRec scores by cosine / 0.07, blind
to the table's scale; our backbones score raw dot products, where standardised rows (norm ~
sqrt(dim)) saturate the softmax from the first step. So the fused table is multiplied by
ALPHAFUSE_TABLE_SCALE (default 1/sqrt(dim): rows of about unit norm, as the cosine sees them);
the scalar multiplies semantics and ID alike, so it is a temperature and changes neither the
null-space split nor how fast IDs move relative to semantics.
User side: user IDs in longtail, none in coldstart.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from pte.reps.base import RepContext, Representation
from pte.reps.common import covariance_eig, frozen, inv_sqrt, item_language, rescale, user_ids

ALPHAFUSE_MODE = "paper"      # paper: the full covariance's null space | code: the released code's columns
ALPHAFUSE_NULL_DIM = 0        # ID width n; 0: dim // 2 (the released 64 of 128)
ALPHAFUSE_NULL_THRES = 0.0    # > 0: n = #eigenvalues (of rescaled E's covariance) <= this; overrides NULL_DIM
ALPHAFUSE_STANDARDIZE = True  # divide kept semantic coordinates by sqrt(eigenvalue)
ALPHAFUSE_COVER = False       # True: the ID replaces the semantic part of its columns instead of adding to it
ALPHAFUSE_ID_INIT = "zeros"   # zeros | normal (N(0, 1), the released default)
ALPHAFUSE_SCALE = 0.0         # multiplier on E (released: 40); 0: make E's entries RMS 1
ALPHAFUSE_TABLE_SCALE = 0.0   # multiplier on the fused table; 0: 1/sqrt(dim), rows of ~unit norm (see above)


def null_width(s: np.ndarray, dim: int, null_dim: int, thres: float) -> int:
    n = int((s <= thres).sum()) if thres > 0 else (null_dim or dim // 2)
    if not 0 < n < dim:
        raise SystemExit(f"error: AlphaFuse's null width must be in 1..{dim - 1} for dim {dim}, got {n} "
                         f"(--alphafuse_null_dim / --alphafuse_null_thres)")
    return n


def decompose(lang: np.ndarray, dim: int, mode: str, null_dim: int = 0, thres: float = 0.0,
              standardize: bool = True) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """(sem [N, dim] frozen coordinates, basis [d_lang, dim] unit directions of the columns,
    kept = the number of semantic-only columns, eigenvalues S of the full covariance)."""
    mean, u, s = covariance_eig(lang)
    d = len(s)
    if dim > d:
        raise SystemExit(f"error: AlphaFuse needs dim <= the language dimension ({dim} > {d}); lower --dim")
    n = null_width(s, dim, null_dim, thres)
    kept = dim - n
    if mode == "code":
        cols = np.arange(dim)
        scale = inv_sqrt(s)[:dim] if standardize else np.ones(dim)
    elif mode == "paper":
        cols = np.concatenate([np.arange(kept), np.arange(d - n, d)])
        scale = np.concatenate([inv_sqrt(s)[:kept] if standardize else np.ones(kept), np.ones(n)])
    else:
        raise SystemExit(f"error: --alphafuse_mode must be code or paper, got {mode!r}")
    basis = u[:, cols]
    sem = (np.asarray(lang, np.float64) - mean) @ (basis * scale)
    return sem.astype(np.float32), basis.astype(np.float32), kept, s


class AlphaFuse(Representation):
    READS = {"item_emb": "item_text"}     # language embeddings E of the items' own text

    def __init__(self, ctx: RepContext):
        super().__init__()
        self.dim = ctx.dim
        lang = rescale(item_language(ctx), ALPHAFUSE_SCALE)
        sem, basis, self.kept, self.eigenvalues = decompose(lang, ctx.dim, ALPHAFUSE_MODE, ALPHAFUSE_NULL_DIM,
                                                            ALPHAFUSE_NULL_THRES, ALPHAFUSE_STANDARDIZE)
        if ALPHAFUSE_COVER:
            sem[:, self.kept:] = 0.0
        self.register_buffer("sem", frozen(sem), persistent=False)
        self.register_buffer("basis", frozen(basis), persistent=False)
        self.ids = nn.Embedding(ctx.ds.n_items, ctx.dim - self.kept)
        if ALPHAFUSE_ID_INIT == "zeros":
            nn.init.zeros_(self.ids.weight)
        elif ALPHAFUSE_ID_INIT == "normal":
            nn.init.normal_(self.ids.weight, 0.0, 1.0)
        else:
            raise SystemExit(f"error: --alphafuse_id_init must be zeros or normal, got {ALPHAFUSE_ID_INIT!r}")
        self.scale = ALPHAFUSE_TABLE_SCALE or ctx.dim ** -0.5
        self.users = user_ids(ctx, ctx.dim)

    def item_table(self) -> torch.Tensor:
        fused = torch.cat([self.sem[:, :self.kept], self.sem[:, self.kept:] + self.ids.weight], dim=1)
        return self.scale * fused

    def user_vectors(self, users: torch.Tensor) -> torch.Tensor | None:
        return None if self.users is None else self.users(users)
