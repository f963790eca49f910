"""Metric definitions against hand-computed values, ties, and the evaluator's modes."""
import math

import numpy as np
import pytest
import torch

from pte.evaluate import evaluate, ranks
from pte.metrics import per_row, pessimistic_rank
from pte.splits import Samples


def test_metric_values_by_hand():
    r = torch.tensor([1, 2, 3, 10, 11])
    m = per_row(r, ks=(10,))
    assert m["HR@10"].tolist() == [1, 1, 1, 1, 0]
    assert m["NDCG@10"].tolist() == pytest.approx([1.0, 1 / math.log2(3), 0.5, 1 / math.log2(11), 0.0])
    assert m["MRR@10"].tolist() == pytest.approx([1.0, 0.5, 1 / 3, 0.1, 0.0])


def test_ties_rank_target_last():
    scores = torch.tensor([[0.5, 0.9, 0.5, 0.5, 0.1]])
    # target 0 ties with items 2 and 3 and is beaten by item 1: pessimistic rank 4
    assert pessimistic_rank(scores, scores[:, 0]).item() == 4
    assert pessimistic_rank(scores, scores[:, 1]).item() == 1
    # all equal scores: the target is last, never first
    flat = torch.zeros(1, 7)
    assert pessimistic_rank(flat, flat[:, 3]).item() == 7


def _rows(targets, negatives=None, exclude=None, groups=None):
    n = len(targets)
    ptr = idx = None
    if exclude is not None:
        ptr = np.concatenate([[0], np.cumsum([len(e) for e in exclude])])
        idx = np.concatenate([np.asarray(e, np.int32) for e in exclude])
    return Samples(np.arange(n), np.full((n, 1), -1), np.asarray(targets), negatives, ptr, idx, groups or {})


def test_full_ranking_masks_exclusions():
    scores = torch.tensor([[0.9, 0.8, 0.7, 0.1],
                           [0.9, 0.8, 0.7, 0.1]])
    rows = _rows([2, 2], exclude=[[0, 1], []])
    r = ranks(scores, rows)["full"]
    assert r.tolist() == [1, 3]  # masking items 0 and 1 lifts row 0's target to the top


def test_sampled_ranking_uses_stored_negatives_only():
    scores = torch.tensor([[0.1, 0.9, 0.5, 0.3, 0.2]])
    rows = _rows([3], negatives=np.array([[0, 4]]))
    out = ranks(scores, rows)
    assert out["sampled"].item() == 1  # beats negatives 0 and 4; items 1 and 2 are not candidates
    assert out["full"].item() == 3


def test_evaluate_groups_and_batches_agree():
    rng = np.random.default_rng(0)
    scores = torch.tensor(rng.normal(size=(50, 30)), dtype=torch.float32)
    targets = rng.integers(0, 30, 50)
    g = rng.random(50) < 0.3
    rows = _rows(targets, groups={"tail": g, "head": ~g})

    def score(chunk):
        return scores[torch.as_tensor(chunk.users)]

    a = evaluate(score, rows, batch_size=7)
    b = evaluate(score, rows, batch_size=1000)
    assert a["full"]["NDCG@10"] == pytest.approx(b["full"]["NDCG@10"])
    full_r = ranks(scores, rows)["full"]
    expect_tail = per_row(full_r[torch.as_tensor(g)])["HR@10"].mean().item()
    assert a["full"]["groups"]["tail"]["HR@10"] == pytest.approx(expect_tail)
    assert a["full"]["groups"]["tail"]["n"] == int(g.sum())
