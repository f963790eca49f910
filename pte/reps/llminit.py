"""LLMInit (Zhang et al., EMNLP 2025 Industry): an item ID table initialised from E, then trained.

LLMInit picks DIM of E's columns as the initial item table (no projection):
  var  - the DIM columns with the largest variance over the most popular items (the top
         LLMINIT_POPULAR share by training degree), kept in ascending column order (default);
  uni  - evenly spaced columns: 0, s, 2s, ... with s = d_lang // DIM;
  rand - DIM random columns (seeded by the run's seed), in ascending order.
Users (longtail) start as the mean of their training items' initial vectors; in coldstart no
evaluated user has an ID, so there is no user table. Popularity and user histories come from
the training split only.

Deliberate differences from the released code (DavidZWZ/LLMInit, RecBole models):
- scale: the selected table is multiplied by one scalar so its std is LLMINIT_STD (0.02, the
  std of the Base method's ID tables), so LLMInit differs from Base only in the init's structure,
  not its magnitude; the original uses E's raw values (LLMINIT_STD = 0 does the same). Users
  get the same scalar, as means of scaled rows.
- rand draws columns without replacement (the original's randint can pick a column twice).
- E with fewer columns than DIM is zero-padded to DIM (fit_dim); the original assumes d_lang > DIM.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from pte.reps.base import RepContext, Representation
from pte.reps.common import fit_dim, history_mean, item_language

LLMINIT_MODE = "var"      # var | uni | rand: how E's columns are selected
LLMINIT_POPULAR = 0.2     # var: share of items (most popular by training degree) whose variance ranks columns
LLMINIT_STD = 0.02        # std of the initial item table (Base's ID std); 0: E's raw values as the original


def select_columns(lang: np.ndarray, dim: int, mode: str, degree: np.ndarray, popular: float = 0.2) -> np.ndarray:
    """Ascending indices of the ``dim`` columns of ``lang`` that LLMInit's ``mode`` selects."""
    d = lang.shape[1]
    if dim > d:
        raise ValueError(f"cannot select {dim} of {d} columns")
    if mode == "var":
        top = np.argsort(-degree, kind="stable")[:max(int(len(degree) * popular), 2)]
        var = lang[top].astype(np.float64).var(0, ddof=1)
        cols = np.argsort(-var, kind="stable")[:dim]
    elif mode == "uni":
        cols = np.arange(0, d, d // dim)[:dim]
    elif mode == "rand":
        cols = torch.randperm(d)[:dim].numpy()
    else:
        raise ValueError(f"--llminit_mode must be var, uni or rand, got {mode!r}")
    return np.sort(cols)


class LLMInit(Representation):
    READS = {"item_emb": "item_text"}     # language embeddings E of the items' own text

    def __init__(self, ctx: RepContext):
        super().__init__()
        self.dim = ctx.dim
        lang = item_language(ctx)
        if lang.shape[1] < ctx.dim:
            cols, init = None, fit_dim(lang, ctx.dim)
        else:
            degree = np.bincount(ctx.split.train_items, minlength=ctx.ds.n_items)
            cols = select_columns(lang, ctx.dim, LLMINIT_MODE, degree, LLMINIT_POPULAR)
            init = lang[:, cols]
        if LLMINIT_STD > 0:
            init = init * (LLMINIT_STD / max(float(init.std()), 1e-12))
        self.columns = cols                       # which columns of E were selected (None: padded)
        self.init = init.astype(np.float32)       # the initial table, kept for inspection
        self.items = nn.Embedding.from_pretrained(torch.as_tensor(self.init), freeze=False)
        self.users = None
        if ctx.split.setting != "coldstart":
            mean, _ = history_mean(ctx.split, self.init)
            self.users = nn.Embedding.from_pretrained(torch.as_tensor(mean), freeze=False)

    def item_table(self) -> torch.Tensor:
        return self.items.weight

    def user_vectors(self, users: torch.Tensor) -> torch.Tensor | None:
        return None if self.users is None else self.users(users)
