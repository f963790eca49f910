"""PtE: its three variants, the id masking of unseen items/users, and the alignment step."""
import numpy as np
import pytest
import torch

from pte import reps
from pte.data import DataError
from pte.embeddings import load_embeddings, save_embeddings
from pte.reps import RepContext
from tests.conftest import ROOT, run_script


def build(ml100k, split, variant, monkeypatch, **options):
    import pte.reps.pte as m
    monkeypatch.setattr(m, "PTE_VARIANT", variant)
    torch.manual_seed(0)
    return reps.build("pte", RepContext(ml100k, split, 16, options=options))


def text(ml100k):
    return str(ml100k.root / "item_text.npy")


def test_raw_learns_nothing_on_the_profile_side(ml100k, splits, monkeypatch):
    rep = build(ml100k, splits["longtail"], "raw", monkeypatch, item_emb=text(ml100k))
    names = [n for n, p in rep.named_parameters() if p.requires_grad]
    assert all("ids" in n or "user_ids" in n for n in names)
    proj = build(ml100k, splits["longtail"], "projection", monkeypatch, item_emb=text(ml100k))
    assert any("proj" in n for n, _ in proj.named_parameters())


def test_unseen_items_and_users_come_from_profiles_alone(ml100k, splits, monkeypatch, tmp_path):
    split = splits["coldstart"]
    users = np.random.default_rng(0).normal(size=(ml100k.n_users, 8)).astype(np.float32)
    cold = np.diff(split.train_ptr) == 0
    users[cold] = 0  # cold users have no profile row
    upath = tmp_path / "u.npy"
    save_embeddings(upath, users, ml100k.user_raw, kind="user", data="ml-100k", encoder="test")
    rep = build(ml100k, split, "projection", monkeypatch, item_emb=text(ml100k), user_emb=str(upath))
    unseen = np.flatnonzero(np.bincount(split.train_items, minlength=ml100k.n_items) == 0)
    assert len(unseen) > 0
    rep.eval()  # no dropout: both calls must see the same MLP
    with torch.no_grad():
        table = rep.item_table()
        profile_only = rep.item.profile()
    assert torch.allclose(table[unseen], profile_only[unseen])
    u = torch.as_tensor(np.r_[np.flatnonzero(cold)[:3], -1])
    assert (rep.sequence_user(u) == 0).all()  # cold users and unknown rows add nothing
    warm = torch.as_tensor(np.flatnonzero(~cold)[:3])
    assert rep.sequence_user(warm).abs().sum() > 0


def test_missing_profiles_name_the_fix(ml100k, splits, monkeypatch, tmp_path):
    import pte.reps.pte as m
    monkeypatch.setattr(m, "embeddings_dir", lambda data, setting: tmp_path)  # no profiles written yet
    with pytest.raises(DataError, match="inference_base_item.py"):
        build(ml100k, splits["longtail"], "projection", monkeypatch)


def test_align_then_pte_aligned(ml100k_name, ml100k, monkeypatch):
    out = run_script(ROOT / "llm" / "align.py", "--data", ml100k_name, "--setting", "coldstart",
                     "--item_emb", text(ml100k), "--epochs", "1", "--patience", "1")
    assert "kept epoch" in out.stdout
    from pte.paths import embeddings_dir
    aligned = embeddings_dir(ml100k_name, "coldstart") / "item_text_aligned.npy"
    vec = load_embeddings(aligned, ml100k, "item")
    assert vec.shape == (ml100k.n_items, 384) and np.allclose(np.linalg.norm(vec, axis=1), 1, atol=1e-4)
    before, after = [float(line.split("NDCG@10")[1].split()[0]) for line in out.stdout.splitlines()
                     if "valid retrieval before" in line or "kept epoch" in line]
    assert after >= before
    run = run_script("Main.py", "--data", ml100k_name, "--setting", "coldstart", "--method", "pte",
                     "--item_emb", text(ml100k), "--epochs", "1", "--fraction", "0.05", "--max_len", "10",
                     "--layers", "1", cwd=ROOT / "base_models" / "SASRec")
    assert "SASRec / pte" in run.stdout
