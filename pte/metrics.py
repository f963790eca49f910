"""One definition per metric, from the 1-based rank r of the single target item.

HR@K = 1[r <= K];  NDCG@K = 1[r <= K] / log2(r + 1);  MRR@K = 1[r <= K] / r.
Recall@K equals HR@K with one target. Ranks are pessimistic: a candidate whose score
equals the target's is ranked ahead of it, so ties never flatter a model.
"""
from __future__ import annotations

import torch

KS = (5, 10, 20)
METRICS = ("HR", "NDCG", "MRR")


def hr(ranks: torch.Tensor, k: int) -> torch.Tensor:
    return (ranks <= k).float()


def ndcg(ranks: torch.Tensor, k: int) -> torch.Tensor:
    return (ranks <= k).float() / torch.log2(ranks.float() + 1)


def mrr(ranks: torch.Tensor, k: int) -> torch.Tensor:
    return (ranks <= k).float() / ranks.float()


_FNS = {"HR": hr, "NDCG": ndcg, "MRR": mrr}


def per_row(ranks: torch.Tensor, ks: tuple[int, ...] = KS) -> dict[str, torch.Tensor]:
    """{"HR@10": [N] values, ...} for every metric and cutoff."""
    return {f"{m}@{k}": _FNS[m](ranks, k) for m in METRICS for k in ks}


def pessimistic_rank(scores: torch.Tensor, target_scores: torch.Tensor) -> torch.Tensor:
    """1-based rank of each target among ``scores`` [B, C] that include the target itself.

    Candidates to ignore must carry -inf; the target's own -inf would then rank last.
    rank = 1 + #(score > s_t) + #(score == s_t) - 1 (the target itself).
    """
    t = target_scores.unsqueeze(1)
    return (scores > t).sum(1) + (scores == t).sum(1)
