"""Pieces several methods share: loading language embeddings, PCA, whitening, MLPs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from pte.embeddings import load_embeddings
from pte.reps.base import RepContext


def item_language(ctx: RepContext) -> np.ndarray:
    """The language embedding E of every item: --item_emb, else data/<name>/item_text.npy."""
    path = ctx.options.get("item_emb") or Path(ctx.ds.root) / "item_text.npy"
    return load_embeddings(path, ctx.ds, "item")


def user_language(ctx: RepContext) -> np.ndarray | None:
    """Per-user language embeddings (--user_emb), or None when the run has none."""
    path = ctx.options.get("user_emb")
    return load_embeddings(path, ctx.ds, "user") if path else None


def pca(x: np.ndarray, k: int, whiten: bool = False) -> np.ndarray:
    """Project centred x on its top-k principal directions (optionally to unit variance)."""
    xc = x - x.mean(0, keepdims=True)
    u, s, vt = np.linalg.svd(xc, full_matrices=False)
    k = min(k, vt.shape[0])
    out = xc @ vt[:k].T
    if whiten:
        out = out / (s[:k] / np.sqrt(max(len(x) - 1, 1)) + 1e-8)
    return out.astype(np.float32)


def fit_dim(x: np.ndarray, dim: int) -> np.ndarray:
    """x reduced (PCA) or zero-padded to ``dim`` columns, for methods whose table must match the backbone."""
    if x.shape[1] >= dim:
        return pca(x, dim)
    return np.pad(x, ((0, 0), (0, dim - x.shape[1]))).astype(np.float32)


def mlp(d_in: int, d_out: int, hidden: int | None = None, dropout: float = 0.0) -> nn.Module:
    hidden = hidden or max(d_out, (d_in + d_out) // 2)
    return nn.Sequential(nn.Linear(d_in, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, d_out))


def frozen(x: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    return torch.as_tensor(x, dtype=torch.float32, device=device)
