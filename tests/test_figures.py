"""Figures from results lines and item tables: written as PNGs, None when there is nothing to plot."""
import numpy as np

from pte.figures import embedding_views, popularity_groups


def row(setting: str, backbone: str, method: str, tail: float) -> dict:
    groups = {"tail_item": {"NDCG@10": tail}, "head_item": {"NDCG@10": 2 * tail}}
    return {"data": "d", "setting": setting, "backbone": backbone, "method": method, "seed": 1, "tag": "t",
            "eval": "full" if setting == "coldstart" else "sampled", "test": {"NDCG@10": tail, "groups": groups}}


def test_popularity_groups(tmp_path):
    rows = [row("coldstart", "SASRec", "base", 0.1), row("coldstart", "SASRec", "pte", 0.2),
            row("longtail", "BiasMF", "base", 0.3)]
    path = popularity_groups(rows, tmp_path / "pop.png", "t")
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert popularity_groups(rows, tmp_path / "none.png", "other tag") is None


def test_embedding_views(tmp_path):
    rng = np.random.default_rng(0)
    tables = {"a": rng.normal(size=(50, 8)), "b": rng.normal(size=(50, 16))}
    path = embedding_views(tables, rng.integers(0, 9, 50), tmp_path / "emb.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
