"""The one evaluator: full ranking and sampled ranking, batched, with group breakdowns.

A model exposes ``score(rows: Samples) -> Tensor[B, n_items]``. Full ranking masks the
rows' exclusion lists (longtail: training items for validation, training + validation
items for test); sampled ranking compares the target with its stored negatives. Both come
from one pass over the same scores.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch

from pte.metrics import KS, pessimistic_rank, per_row
from pte.splits import Samples

ScoreFn = Callable[[Samples], torch.Tensor]
EVAL_BATCH = 4096


def exclusion_mask(rows: Samples, n_items: int, device: torch.device | str = "cpu") -> torch.Tensor | None:
    """Boolean [B, n_items], True where an item must not be ranked for that row."""
    if rows.exclude_ptr is None:
        return None
    ptr = torch.as_tensor(rows.exclude_ptr)
    r = torch.repeat_interleave(torch.arange(len(rows)), torch.diff(ptr))
    mask = torch.zeros(len(rows), n_items, dtype=torch.bool, device=device)
    mask[r.to(device), torch.as_tensor(rows.exclude_idx, dtype=torch.long, device=device)] = True
    return mask


def ranks(scores: torch.Tensor, rows: Samples) -> dict[str, torch.Tensor]:
    """Pessimistic 1-based target ranks per mode: "full" always, "sampled" with stored negatives."""
    scores = scores.float()
    targets = torch.as_tensor(rows.targets, dtype=torch.long, device=scores.device)
    t_scores = scores.gather(1, targets[:, None]).squeeze(1)
    out = {}
    mask = exclusion_mask(rows, scores.shape[1], scores.device)
    full = scores if mask is None else scores.masked_fill(mask, float("-inf"))
    out["full"] = pessimistic_rank(full, t_scores)
    if rows.negatives is not None:
        neg = torch.as_tensor(rows.negatives, dtype=torch.long, device=scores.device)
        out["sampled"] = pessimistic_rank(torch.cat([t_scores[:, None], scores.gather(1, neg)], 1), t_scores)
    return out


def summarize(rank_by_mode: dict[str, torch.Tensor], groups: dict[str, np.ndarray],
              ks: tuple[int, ...] = KS) -> dict[str, dict]:
    """{"full": {"HR@10": x, ..., "groups": {"tail_item": {...}}}, "sampled": {...}} (means)."""
    out = {}
    for mode, r in rank_by_mode.items():
        vals = per_row(r, ks)
        res = {k: float(v.mean()) for k, v in vals.items()}
        if groups:
            res["groups"] = {}
            for g, m in groups.items():
                m = torch.as_tensor(m, dtype=torch.bool, device=r.device)
                res["groups"][g] = {k: (float(v[m].mean()) if m.any() else float("nan")) for k, v in vals.items()}
                res["groups"][g]["n"] = int(m.sum())
        res["n"] = int(len(r))
        out[mode] = res
    return out


@torch.no_grad()
def evaluate(score: ScoreFn, rows: Samples, batch_size: int = EVAL_BATCH, ks: tuple[int, ...] = KS) -> dict[str, dict]:
    """Metrics of ``score`` on ``rows`` in every available mode, plus "seconds"."""
    t0 = time.perf_counter()
    parts: dict[str, list[torch.Tensor]] = {}
    for start in range(0, len(rows), batch_size):
        chunk = rows.subset(np.arange(start, min(start + batch_size, len(rows))))
        for mode, r in ranks(score(chunk), chunk).items():
            parts.setdefault(mode, []).append(r.cpu())
    res = summarize({m: torch.cat(v) for m, v in parts.items()}, rows.groups, ks)
    res["seconds"] = time.perf_counter() - t0
    return res


@torch.no_grad()
def topk(score: ScoreFn, rows: Samples, k: int = 50, batch_size: int = EVAL_BATCH) -> np.ndarray:
    """[N, k] internal item ids, best first, in full-ranking mode (exclusions masked)."""
    out = []
    for start in range(0, len(rows), batch_size):
        chunk = rows.subset(np.arange(start, min(start + batch_size, len(rows))))
        s = score(chunk).float()
        mask = exclusion_mask(chunk, s.shape[1], s.device)
        if mask is not None:
            s = s.masked_fill(mask, float("-inf"))
        out.append(s.topk(k, dim=1).indices.cpu().numpy())
    return np.concatenate(out)
