"""Pieces several methods share: loading language embeddings, PCA, whitening, MLPs."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from pte.dropout import Dropout
from pte.reps.base import RepContext


def item_language(ctx: RepContext) -> np.ndarray:
    """The language embedding E of every item: --item_emb, else what the method reads
    (data/<name>/item_text.npy for the text baselines)."""
    return ctx.read("item_emb", "item")


def user_language(ctx: RepContext) -> np.ndarray | None:
    """Per-user language embeddings (--user_emb), or None when the run has none."""
    return ctx.read("user_emb", "user")


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


def unit_projection(x: np.ndarray, k: int) -> np.ndarray:
    """x's rows at unit length, projected on their top k right singular vectors, uncentred: dot
    products (the cosine geometry a contrastive aligner trained) survive up to the dropped energy,
    where centring or whitening would change which items a query ranks first."""
    unit = np.asarray(x, np.float64) / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    _, _, vt = np.linalg.svd(unit, full_matrices=False)
    return (unit @ vt[:k].T).astype(np.float32)


def mlp(d_in: int, d_out: int, hidden: int | None = None, dropout: float = 0.0) -> nn.Module:
    hidden = hidden or max(d_out, (d_in + d_out) // 2)
    return nn.Sequential(nn.Linear(d_in, hidden), nn.GELU(), Dropout(dropout), nn.Linear(hidden, d_out))


def frozen(x: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    return torch.as_tensor(x, dtype=torch.float32, device=device)


def history_mean(split, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per user, the mean of x's rows over the user's TRAINING items (split.train_sequence),
    and a bool mask of users who have any; users without training items get zeros."""
    import scipy.sparse as sp
    counts = np.diff(split.train_ptr)
    a = sp.csr_matrix((np.ones(len(split.train_items), np.float32), split.train_items, split.train_ptr),
                      shape=(split.n_users, len(x)))
    out = np.asarray(a @ x, dtype=np.float32) / np.maximum(counts, 1)[:, None]
    return out.astype(np.float32), counts > 0


def cosine_neighbours(x: np.ndarray, k: int, candidates: np.ndarray | None = None,
                      queries: np.ndarray | None = None, chunk: int | None = None) -> np.ndarray:
    """[n, k] the k rows most cosine-similar to each row of x, never the row itself, drawn
    from ``candidates`` (bool mask; default all). Rows not in ``queries`` (bool mask) and
    slots without enough candidates hold -1. Chunked matmul: chunk x n similarities at a
    time (default: about 2**26 of them)."""
    n = len(x)
    chunk = chunk or max(1, (1 << 26) // max(n, 1))
    t = torch.nn.functional.normalize(torch.as_tensor(x, dtype=torch.float32), dim=-1)
    cand = torch.ones(n, dtype=torch.bool) if candidates is None else torch.as_tensor(candidates)
    out = np.full((n, k), -1, dtype=np.int64)
    if k <= 0 or n == 0:
        return out
    kk = min(k, n)
    for s in range(0, n, chunk):
        sim = t[s:s + chunk] @ t.T
        sim[:, ~cand] = -torch.inf
        rows = torch.arange(s, min(s + chunk, n))
        sim[rows - s, rows] = -torch.inf            # never oneself
        val, idx = sim.topk(kk, dim=1)
        idx[torch.isinf(val)] = -1
        out[s:s + chunk, :kk] = idx.numpy()
    if queries is not None:
        out[~np.asarray(queries, bool)] = -1
    return out


def rescale(x: np.ndarray, scale: float = 0.0) -> np.ndarray:
    """x * scale; scale <= 0 picks the factor that gives the entries a root mean square of 1.
    (AlphaFuse multiplies its 1536-d unit-norm embeddings by 40 ~ sqrt(1536): the same thing.)"""
    if scale <= 0:
        scale = 1.0 / max(float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))), 1e-12)
    return (np.asarray(x, np.float64) * scale).astype(np.float32)


def covariance_eig(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, U, S) of x's sample covariance (np.cov, ddof 1): eigenvectors as U's columns, eigenvalues
    S in descending order (negatives from round-off clipped to 0), each column's sign fixed so its
    largest-magnitude entry is positive (reproducible across BLAS builds). Float64 throughout."""
    x = np.asarray(x, np.float64)
    mean = x.mean(0)
    s, u = np.linalg.eigh(np.cov(x - mean, rowvar=False).reshape(x.shape[1], x.shape[1]))
    order = np.argsort(s, kind="stable")[::-1]
    s, u = np.clip(s[order], 0.0, None), u[:, order]
    u = u * np.where(u[np.abs(u).argmax(0), np.arange(u.shape[1])] < 0, -1.0, 1.0)
    return mean, u, s


def inv_sqrt(s: np.ndarray, rtol: float = 1e-6) -> np.ndarray:
    """s^-1/2 for eigenvalues above rtol * max(s); 0 for the rest (they carry no signal, only round-off)."""
    keep = s > rtol * max(float(s.max(initial=0.0)), 1e-300)
    return np.where(keep, 1.0 / np.sqrt(np.where(keep, s, 1.0)), 0.0)


def whiten(x: np.ndarray, kind: str = "pca", k: int | None = None, rtol: float = 1e-6) -> np.ndarray:
    """Centred x mapped to identity covariance. pca: (x - mean) U_k S_k^-1/2 (the top k components,
    None = all); zca: (x - mean) U S^-1/2 U^T (same space, original axes). A rank-deficient x
    (eigenvalues <= rtol * largest) gets 0 in those directions, so cov = identity on its rank."""
    mean, u, s = covariance_eig(x)
    w = inv_sqrt(s, rtol)
    xc = np.asarray(x, np.float64) - mean
    if kind == "pca":
        k = len(s) if k is None else min(k, len(s))
        out = xc @ (u[:, :k] * w[:k])
    elif kind == "zca":
        out = xc @ (u * w) @ u.T
    else:
        raise ValueError(f"whitening kind must be pca or zca, got {kind!r}")
    return out.astype(np.float32)


def adapter(d_in: int, d_out: int, hidden: int = 0, dropout: float = 0.0) -> nn.Module:
    """hidden 0: Linear + GELU (AlphaFuse's MoRec/WhitenRec adapter); else a two-layer mlp()."""
    if hidden <= 0:
        return nn.Sequential(nn.Linear(d_in, d_out), nn.GELU())
    return mlp(d_in, d_out, hidden, dropout)


def user_ids(ctx: RepContext, dim: int, std: float = 0.02) -> nn.Embedding | None:
    """A trainable user ID table for item-side methods, in settings whose evaluated users train
    (longtail: BiasMF needs user vectors); None in coldstart, where no evaluated user has an ID."""
    if ctx.split.setting == "coldstart":
        return None
    emb = nn.Embedding(ctx.ds.n_users, dim)
    nn.init.normal_(emb.weight, std=std)
    return emb
