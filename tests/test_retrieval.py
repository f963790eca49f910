"""The retrieval term: what its query may read, the fusion's scale, and the weight chosen on validation."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from pte import retrieval
from pte.evaluate import evaluate
from pte.splits import Samples

N_ITEMS, PAD = 40, 40


def _rows(histories, targets) -> Samples:
    length = max(len(h) for h in histories)
    inputs = np.full((len(histories), length), PAD, np.int64)
    for r, h in enumerate(histories):
        if h:
            inputs[r, -len(h):] = h
    return Samples(np.arange(len(histories)), inputs, np.asarray(targets))


def _table(seed: int = 0) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.as_tensor(np.random.default_rng(seed).normal(size=(N_ITEMS, 8)),
                                                         dtype=torch.float32), dim=-1)


def test_the_query_reads_only_the_last_items_of_the_history():
    table = _table()
    a = retrieval.retrieval_scores(table, _rows([[1, 2, 3, 4, 5]], [0]).inputs, last=3)
    b = retrieval.retrieval_scores(table, _rows([[9, 8, 3, 4, 5]], [0]).inputs, last=3)
    c = retrieval.retrieval_scores(table, _rows([[1, 2, 3, 4, 6]], [0]).inputs, last=3)
    assert torch.allclose(a, b)            # items before the last three do not count
    assert not torch.allclose(a, c)        # the last one does
    empty = retrieval.retrieval_scores(table, _rows([[], [1]], [0, 0]).inputs, last=3)
    assert torch.all(empty[0] == 0) and torch.all(torch.isfinite(empty))


def test_standardized_rows_ignore_the_backbone_scale():
    s = torch.randn(4, N_ITEMS)
    assert torch.allclose(retrieval.standardized(s), retrieval.standardized(100 * s + 3), atol=1e-5)
    assert torch.all(retrieval.standardized(torch.ones(2, N_ITEMS)) == 0)


def _choice(monkeypatch, backbone_knows: bool, weights=(0.0, 0.5, 4.0)):
    """A validation split whose targets either the backbone or the retrieval table ranks first."""
    rng = np.random.default_rng(1)
    table = _table()
    histories = [[int(i)] for i in rng.integers(0, N_ITEMS, 60)]
    # the target nearest to the history item (retrieval's favourite), or a random one
    near = (table[[h[0] for h in histories]] @ table.T).scatter(1, torch.tensor(histories), -9).argmax(1).numpy()
    far = rng.integers(0, N_ITEMS, 60)
    targets = far if backbone_knows else near
    valid = _rows(histories, targets)

    def score(rows):
        s = torch.as_tensor(rng.normal(size=(len(rows), N_ITEMS)), dtype=torch.float32) * 0.01
        if backbone_knows:
            s[torch.arange(len(rows)), torch.as_tensor(rows.targets)] += 1.0
        return s

    monkeypatch.setattr(retrieval, "RETRIEVAL_WEIGHTS", weights)
    rep = SimpleNamespace(retrieval_table=lambda: table)
    split = SimpleNamespace(valid=valid, setting="longtail")
    fused, record = retrieval.choose_weight(score, rep, None, split, "full", "NDCG@10")
    return fused, record, valid


def test_validation_picks_the_term_when_it_ranks_the_targets(monkeypatch):
    fused, record, valid = _choice(monkeypatch, backbone_knows=False)
    assert record["weight"] == 4.0
    assert record["valid_by_weight"]["4"] > record["valid_by_weight"]["0"]
    assert evaluate(fused, valid)["full"]["NDCG@10"] == pytest.approx(record["valid_by_weight"]["4"], abs=0.05)


def test_validation_keeps_the_backbone_alone_when_the_term_does_not_help(monkeypatch):
    _, record, _ = _choice(monkeypatch, backbone_knows=True)
    assert record["weight"] == 0.0


def test_off_by_default_and_refused_without_vectors(monkeypatch):
    score = lambda rows: torch.zeros(len(rows), N_ITEMS)  # noqa: E731
    split = SimpleNamespace(valid=None, setting="longtail")
    assert retrieval.choose_weight(score, None, None, split, "full", "NDCG@10") == (score, None)
    monkeypatch.setattr(retrieval, "RETRIEVAL_WEIGHTS", (0.0, 1.0))
    with pytest.raises(SystemExit, match="retrieval_emb"):
        retrieval.choose_weight(score, SimpleNamespace(retrieval_table=lambda: None), None, split, "full", "NDCG@10")


def test_a_backbone_run_records_the_weight_it_chose(ml100k_name):
    import os
    from pathlib import Path

    from pte.results import load_results
    from tests.conftest import ROOT, run_script
    text = Path(os.environ["PTE_DATA"]) / ml100k_name / "item_text.npy"
    out = run_script(ROOT / "base_models" / "BiasMF" / "Main.py", "--data", ml100k_name, "--epochs", "1",
                     "--fraction", "0.05", "--retrieval_weights", "0,1", "--retrieval_emb", str(text), "--tag", "ret")
    assert "retrieval term, validation NDCG@10 by weight: 0: " in out.stdout
    row = [r for r in load_results(ml100k_name) if r.get("tag") == "ret"][-1]
    assert row["retrieval"]["weight"] in (0.0, 1.0) and set(row["retrieval"]["valid_by_weight"]) == {"0", "1"}
    chosen = row["retrieval"]["valid_by_weight"][f"{row['retrieval']['weight']:g}"]
    assert row["valid"]["NDCG@10"] == pytest.approx(chosen, abs=1e-6)   # the row reports the chosen fusion


def test_a_missing_or_broken_file_is_named_before_training(ml100k, monkeypatch, tmp_path):
    from pte.embeddings import save_embeddings
    monkeypatch.setattr(retrieval, "RETRIEVAL_WEIGHTS", (0.0, 1.0))
    monkeypatch.setattr(retrieval, "RETRIEVAL_EMB", str(tmp_path / "nope.npy"))
    with pytest.raises(SystemExit, match="--retrieval_emb: .*nope.npy"):
        retrieval.retrieval_table(None, ml100k, "longtail")
    bad = np.ones((ml100k.n_items, 4), np.float32)
    save_embeddings(tmp_path / "bad.npy", bad, ml100k.item_raw, kind="item", data=ml100k.name, encoder="test")
    bad[3, 1] = np.nan
    np.save(tmp_path / "bad.npy", bad)    # damaged after it was written
    monkeypatch.setattr(retrieval, "RETRIEVAL_EMB", str(tmp_path / "bad.npy"))
    with pytest.raises(SystemExit, match="bad.npy.*(NaN|nan|finite)"):
        retrieval.retrieval_table(None, ml100k, "longtail")
