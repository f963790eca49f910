"""The profile benchmark: hand-made cases whose metrics are known, an independent re-computation
on ml-100k, and the leakage rule (validation rows only; no held-out item in the no-LLM text)."""
from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from pte import profile_bench as pb
from pte.llm.data import short_title
from pte.splits import PAD, Samples, Split

N_ITEMS = 30


def toy_split(inputs: list[list[int]], targets: list[int]) -> Split:
    """Longtail-shaped split: user r trains on the real items of inputs[r] and validates on targets[r]."""
    inp = np.array(inputs, np.int32)
    seqs = [row[row != PAD] for row in inp]
    ptr = np.concatenate([[0], np.cumsum([len(s) for s in seqs])]).astype(np.int64)
    items = np.concatenate(seqs).astype(np.int32)
    users = np.arange(len(inp), dtype=np.int32)
    valid = Samples(users, inp, np.array(targets, np.int32), exclude_ptr=ptr, exclude_idx=items)
    return Split("longtail", len(inp), N_ITEMS, ptr, items, valid, test=None)


def onehot(*ids: int, n: int = N_ITEMS) -> np.ndarray:
    v = np.zeros(n, np.float32)
    v[list(ids)] = 1.0
    return v


# ----------------------------------------------------------------- hand-made cases

def test_user_side_ranks_own_target_first_and_masks_training_items():
    split = toy_split([[PAD, 1, 2], [PAD, 3, 4], [5, 6, 7]], targets=[10, 11, 12])
    items = np.eye(N_ITEMS, dtype=np.float32)
    users = np.zeros((3, N_ITEMS), np.float32)
    users[0] = items[10]                       # exactly the target: rank 1
    users[1] = 3 * items[4] + items[11]        # training item 4 scores higher, but is masked: rank 1
    # user 2: no profile (zero row) -> every item ties with the target, ranked pessimistically last
    res = pb.user_side(split, users, items)
    assert res["n"] == 3 and res["n_valid"] == 3
    assert res["NDCG@10"] == pytest.approx(2 / 3)
    assert res["NDCG@20"] == pytest.approx(2 / 3)
    assert pb.user_side(split, users, items, users=[0])["NDCG@10"] == 1.0
    assert pb.user_side(split, users, items, users=[2])["HR@20"] == 0.0
    assert list(pb.covered_users(users)) == [0, 1]


def test_user_side_subset_evaluates_exactly_those_rows():
    split = toy_split([[PAD, 1, 2], [PAD, 3, 4], [5, 6, 7]], targets=[10, 11, 12])
    items = np.eye(N_ITEMS, dtype=np.float32)
    users = np.stack([items[10], items[0] + items[11] + items[13], items[12]])  # user 1: rank 3
    whole = pb.user_side(split, users, items)
    sub = pb.user_side(split, users, items, users=np.array([1, 2, 99]))       # 99: no validation row
    assert sub["n"] == 2 and sub["users"] == pb.users_key(np.array([1, 2]))
    assert sub["NDCG@10"] == pytest.approx((1 / math.log2(4) + 1) / 2)
    assert whole["NDCG@10"] == pytest.approx((1 / math.log2(4) + 2) / 3)
    with pytest.raises(ValueError):
        pb.user_side(split, users, items, users=[99])


def test_a_step_is_paired_on_the_users_both_rungs_cover():
    assert pb.shared_users(None, None) is None
    assert list(pb.shared_users(np.array([1, 2, 5]), None)) == [1, 2, 5]
    assert list(pb.shared_users(None, np.array([4]))) == [4]
    assert list(pb.shared_users(np.array([1, 2, 5]), np.array([2, 3, 5]))) == [2, 5]


def test_row_values_average_to_the_rung_and_steps_are_paired():
    split = toy_split([[PAD, 1, 2], [PAD, 3, 4], [5, 6, 7]], targets=[10, 11, 12])
    items = np.eye(N_ITEMS, dtype=np.float32)
    before = np.stack([items[10], items[0] + items[11] + items[13], items[0]])     # ranks 1, 3, miss
    after = np.stack([items[10], items[11], items[0]])                             # ranks 1, 1, miss
    vb = pb.row_ndcg10(pb.user_scores(before, items), split)
    va = pb.row_ndcg10(pb.user_scores(after, items), split)
    assert vb.mean() == pytest.approx(pb.user_side(split, before, items)["NDCG@10"])
    assert list(va) == pytest.approx([1.0, 1.0, 0.0])
    assert list(pb.row_ndcg10(pb.user_scores(after, items), split, users=[2, 1])) == pytest.approx([1.0, 0.0])
    step = pb.paired_change(vb, va, n_boot=500)
    assert step["rel"] == pytest.approx(2 / (1 + 0.5) - 1) and step["n"] == 3
    assert 0 <= step["ci"][0] <= step["rel"] <= step["ci"][1]     # never lower for any user: never below 0
    same = pb.paired_change(vb, vb, n_boot=200)
    assert same["rel"] == 0 and same["ci"] == [0.0, 0.0]
    # an equal mean gain spread over a few users is less certain than one every user shares
    rng = np.random.default_rng(0)
    base = rng.random(400)
    spread = base + np.where(rng.random(400) < 0.1, 1.0, 0.0)
    even = base + spread.mean() - base.mean()
    w = lambda r: r["ci"][1] - r["ci"][0]
    assert w(pb.paired_change(base, spread)) > 5 * w(pb.paired_change(base, even))
    with pytest.raises(ValueError):
        pb.paired_change(vb, va[:2])
    lines = pb.format_steps([{"name": "(a)", "side": "user", "step": {"from": "untuned", **step}}, {"name": "x"},
                             {"name": "(b)", "side": "user", "step": {"from": "(a)", **step, "ci": [0.01, 0.2]}},
                             {"name": "(c)", "side": "user", "step": {"from": "(b)", **step, "ci": [-0.3, -0.1]}}])
    assert "untuned -> (a)" in lines[0] and lines[0].endswith("(within noise)")   # one user of three: lo = 0
    assert lines[1].endswith("(up)") and lines[2].endswith("(down)") and len(lines) == 3


def test_sentence_sweep_mixes_unit_rows_and_pairs_the_best_weight_with_the_facts():
    split = toy_split([[PAD, 1, 2], [PAD, 3, 4], [5, 6, 7]], targets=[10, 11, 12])
    items = np.eye(N_ITEMS, dtype=np.float32)
    facts = np.stack([items[10] / 2 + items[13], items[11] / 2 + items[14], np.zeros(N_ITEMS, np.float32)])
    sentence = np.stack([items[10], items[11], items[12]])       # points at every target
    m = pb.mixed(facts, sentence, 0.5)
    assert np.allclose(np.linalg.norm(m, axis=1), 1)
    assert np.allclose(pb.mixed(facts, sentence, 0)[:2], facts[:2] / np.linalg.norm(facts[:2], axis=1, keepdims=True))
    assert not pb.mixed(facts, 0 * sentence, 1.0)[2].any()      # neither part: the row stays zero
    sw = pb.sentence_sweep(split, facts, sentence, lambda e: pb.user_scores(e, items), users=[0, 1],
                           weights=(0.0, 1.0, 2.0))
    assert sw["ndcg10"][0] == pytest.approx(1 / math.log2(3))   # the facts put item 13/14 first: rank 2
    assert sw["ndcg10"][1] == sw["ndcg10"][2] == pytest.approx(1.0) and sw["best"]["w"] == 1.0
    assert sw["best"]["n"] == 2 and sw["best"]["rel"] == pytest.approx(math.log2(3) - 1)
    line = pb.format_sweeps([{"name": "(c)", "side": "user", "sweep": sw}, {"name": "x"}])
    assert len(line) == 1 and "best w 1" in line[0] and "w 0: 0.6309 | 1: 1.0000 | 2: 1.0000" in line[0]
    with pytest.raises(ValueError, match="first weight"):
        pb.sentence_sweep(split, facts, sentence, lambda e: pb.user_scores(e, items), weights=(0.5, 1.0))


def test_item_side_uses_only_the_last_k_real_items():
    split = toy_split([[PAD, PAD, 1, 2, 3]], targets=[20])
    items = np.eye(N_ITEMS, dtype=np.float32)
    items[20] = onehot(2, 3)          # the mean of the last 2 items
    items[21] = onehot(1, 2, 3)       # the mean of the last 3
    # a PAD read as item 0 would pull the k=10 query towards item 0 and push the target to rank 3
    assert pb.item_side(split, items, k=2)["NDCG@10"] == 1.0
    assert pb.item_side(split, items, k=3)["NDCG@10"] == pytest.approx(1 / math.log2(3))
    # k beyond the history: padding ignored, so the query is the k=3 one and item 21 still leads
    assert pb.item_side(split, items, k=10)["NDCG@10"] == pytest.approx(1 / math.log2(3))
    unit = torch.nn.functional.normalize(torch.as_tensor(items), dim=-1)
    q = pb.history_queries(split.valid.inputs, unit, 10)[0].numpy()
    expected = (unit[1] + unit[2] + unit[3]).numpy()
    np.testing.assert_allclose(q, expected / np.linalg.norm(expected), atol=1e-6)
    assert torch.all(pb.history_queries(np.full((1, 4), PAD), unit, 3) == 0)
    with pytest.raises(ValueError):
        pb.item_side(split, items, k=0)


def test_popularity_counts_training_interactions_only():
    split = toy_split([[PAD, 1, 2], [PAD, 2, 3], [4, 2, 5]], targets=[3, 7, 1])
    np.testing.assert_array_equal(pb.train_popularity(split, N_ITEMS)[:6], [0, 1, 3, 1, 1, 1])
    res = pb.popularity(split)
    # row 0: 1, 2 masked; 4, 5 tie with target 3 -> rank 3. row 1: 7 has count 0 -> rank 27.
    # row 2: 2, 4, 5 masked; 3 ties with target 1 -> rank 2
    assert res["NDCG@10"] == pytest.approx((1 / math.log2(4) + 1 / math.log2(3)) / 3)


def test_ladder_rows_compare_on_equal_users():
    split = toy_split([[PAD, 1, 2], [PAD, 3, 4], [5, 6, 7]], targets=[10, 11, 12])
    items = np.eye(N_ITEMS, dtype=np.float32)
    users = np.stack([items[10], items[0] + items[11], np.zeros(N_ITEMS, np.float32)])
    part = pb.user_side(split, users, items, users=[0, 1])
    other = np.stack([items[10] + items[15], items[11], items[12]])   # rows 0, 1: ranks 2, 1
    base = pb.user_side(split, other, items, users=[0, 1])
    with pytest.raises(ValueError, match="baseline"):
        pb.ladder_row("teacher", "user", part, covered=2)
    with pytest.raises(ValueError, match="other users"):
        pb.ladder_row("teacher", "user", part, 2, baseline=pb.user_side(split, other, items, users=[0, 2]))
    with pytest.raises(ValueError):
        pb.ladder_row("x", "sideways", part, 2, baseline=base)
    row = pb.ladder_row("teacher", "user", part, 2, baseline=base)
    assert row["rel_ndcg10"] == pytest.approx((part["NDCG@10"] - base["NDCG@10"]) / base["NDCG@10"])
    full = pb.ladder_row("pop", "popularity", pb.popularity(split), 3)
    table = pb.format_ladder([full, row])
    assert "teacher" in table and "pop" in table and len(table.splitlines()) == 4


def test_profile_texts_skip_invalid_rows(tmp_path):
    path = tmp_path / "p.jsonl"
    rows = [{"id": 0, "text": "likes noir"}, {"id": 2, "text": "broken", "valid": False}, {"id": 3, "text": ""}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert pb.profile_texts(path) == {0: "likes noir"}


def test_embed_texts_zero_rows_where_no_text(monkeypatch):
    """Rows land at their ids (the encoder is stubbed: loading MiniLM would cost ~10 s here)."""
    import pte.encoder
    seen = []

    def fake_encode(texts, name="minilm", **kw):
        seen.append((list(texts), name))
        return np.stack([np.full(4, len(t), np.float32) for t in texts])

    monkeypatch.setattr(pte.encoder, "encode", fake_encode)
    emb = pb.embed_texts({3: "war films", 1: "a comedy lover"}, 5, encoder="other")
    assert seen == [(["a comedy lover", "war films"], "other")]
    assert emb.shape == (5, 4) and emb.dtype == np.float32
    assert list(pb.covered_users(emb)) == [1, 3]
    assert emb[1, 0] == len("a comedy lover") and emb[3, 0] == len("war films")
    with pytest.raises(ValueError):
        pb.embed_texts({5: "out of range"}, 5)


# ----------------------------------------------------------------- ml-100k

def test_validation_only_never_reads_test(ml100k, splits):
    split = replace(splits["longtail"], test=None)
    rng = np.random.default_rng(0)
    items = rng.normal(size=(ml100k.n_items, 8)).astype(np.float32)
    users = rng.normal(size=(ml100k.n_users, 8)).astype(np.float32)
    for res in (pb.popularity(split), pb.item_side(split, items), pb.user_side(split, users, items)):
        assert res["n"] == len(split.valid) == res["n_valid"]
    with pytest.raises(ValueError, match="longtail"):
        pb.popularity(splits["coldstart"])


def test_item_side_matches_an_independent_loop(ml100k, splits):
    """Per-row numpy re-computation: masking of *all* training items (not just the 200 inputs),
    last k items of the training sequence, pessimistic ties."""
    split = splits["longtail"]
    emb = np.random.default_rng(1).normal(size=(ml100k.n_items, 16)).astype(np.float32)
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    users = split.valid.users[:120]
    ndcg = []
    for u, t in zip(split.valid.users[:120], split.valid.targets[:120]):
        seq = split.train_sequence(u)
        q = unit[seq[-5:]].mean(0)
        s = unit @ (q / np.linalg.norm(q))
        masked = np.zeros(ml100k.n_items, bool)
        masked[seq[seq != t]] = True
        rank = int(((s >= s[t]) & ~masked).sum())
        ndcg.append(1 / math.log2(rank + 1) if rank <= 10 else 0.0)
    res = pb.item_side(split, emb, k=5, users=users)
    assert res["n"] == 120
    assert res["NDCG@10"] == pytest.approx(float(np.mean(ndcg)), abs=1e-6)


def test_history_texts_hold_no_heldout_target(ml100k, splits):
    split = splits["longtail"]
    texts = pb.history_texts(ml100k, split)
    assert set(texts) == set(range(ml100k.n_users))
    checked = 0
    for part in (split.valid, split.test):
        for u, t in zip(part.users, part.targets):
            train = split.train_sequence(u)
            # the same film under another id in training is shown legitimately
            if t in train or short_title(ml100k, t) in {short_title(ml100k, i) for i in train}:
                continue
            assert short_title(ml100k, t) not in texts[u], (u, t)
            checked += 1
    assert checked > 1800
    # the check has power: a text from the whole sequence (targets included) fails it
    u = int(split.valid.users[0])
    leaky = pb.history_text(ml100k, u, ml100k.sequence(u)[-10:])
    assert short_title(ml100k, split.test.targets[0]) in leaky
    assert texts[u].startswith("24-year-old male technician. ")


def test_popularity_beats_random_on_ml100k(ml100k, splits):
    split = splits["longtail"]
    gen = torch.Generator().manual_seed(0)
    rand = pb.run(lambda rows: torch.rand(len(rows), ml100k.n_items, generator=gen), split)
    pop = pb.popularity(split)
    assert pop["n"] == rand["n"] == len(split.valid)
    assert pop["NDCG@10"] > 3 * rand["NDCG@10"] and pop["HR@10"] > rand["HR@10"]
