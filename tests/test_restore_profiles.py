"""Profiles restored from the shipped texts (llm/restore_profiles.py, reproduce.py --profiles shipped):
the files the inference scripts write, from the published texts, and refused when they do not fit."""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from conftest import ROOT, run_script
from pte import encoder, pipeline
from pte.io import read_jsonl, write_jsonl
from pte.llm.profiles import ProfileError, restore_shipped

SHIPPED_ITEMS = ROOT / "results" / "ml-100k_profiles" / "both_profiles_item_profile.jsonl"


def fake_encode(texts, name="", **kw):
    """A cheap stand-in for MiniLM (the real encoder runs in the end-to-end test below)."""
    return np.array([[len(t), t.count(";"), 1.0] for t in texts], np.float32)


def test_restore_writes_the_shipped_texts_and_their_embeddings(ml100k, ml100k_name, tmp_path, monkeypatch):
    monkeypatch.setenv("PTE_OUTPUTS", str(tmp_path / "out"))
    monkeypatch.setattr(encoder, "encode", fake_encode)
    shipped = read_jsonl(SHIPPED_ITEMS)
    profiles, emb = restore_shipped(ml100k, data=ml100k_name, setting="both", name="item_profile", kind="item",
                                    source=SHIPPED_ITEMS, encoder="minilm")
    assert [r["text"] for r in read_jsonl(profiles)] == [r["text"] for r in shipped]
    vectors = np.load(emb)
    assert vectors.shape == (ml100k.n_items, 3) and vectors[5, 0] == len(shipped[5]["text"])
    side = json.loads(emb.with_suffix(".json").read_text())
    assert side["restored_from"] == SHIPPED_ITEMS.name and len(side["source_digest"]) == 16
    assert pipeline.stage("inference_base_item").done(ml100k_name)


@pytest.mark.parametrize("break_it, message", [
    (lambda rows: rows[:-1], "1 items with training interactions have no profile"),
    (lambda rows: [{**rows[0], "raw": "not-an-item"}] + rows[1:], "line 1 .* is not a item of"),
    (lambda rows: rows + rows[:1], "repeats one"),
])
def test_restore_refuses_texts_that_do_not_fit(ml100k, ml100k_name, tmp_path, monkeypatch, break_it, message):
    monkeypatch.setenv("PTE_OUTPUTS", str(tmp_path / "out"))
    monkeypatch.setattr(encoder, "encode", fake_encode)
    source = tmp_path / SHIPPED_ITEMS.name
    write_jsonl(source, break_it(read_jsonl(SHIPPED_ITEMS)))
    with pytest.raises(ProfileError, match=message):
        restore_shipped(ml100k, data=ml100k_name, setting="both", name="item_profile", kind="item", source=source,
                        encoder="minilm")
    assert not pipeline.artifact_path(ml100k_name, "item_profile", "coldstart").exists()


def test_restore_writes_what_is_shipped_and_names_what_is_not(ml100k_name, tmp_path):
    """A folder with item profiles only (Beauty's) restores them and says the user profiles were not shipped;
    a folder with none is an error naming the file."""
    results = tmp_path / "results"
    (results / "ml-100k_profiles").mkdir(parents=True)
    shutil.copy(SHIPPED_ITEMS, results / "ml-100k_profiles")
    env = {"PTE_RESULTS": str(results), "PTE_OUTPUTS": str(tmp_path / "out")}
    out = run_script(ROOT / "llm" / "restore_profiles.py", "--data", ml100k_name, env=env, timeout=300).stdout
    assert "user_profile: not shipped" in out and "--user_emb none" in out
    assert (tmp_path / "out" / ml100k_name / "both" / "embeddings" / "item_profile.npy").exists()
    assert not (tmp_path / "out" / ml100k_name / "longtail" / "embeddings" / "user_profile.npy").exists()
    # user profiles of a sample of users (Beauty ships the ladder's 200): a note, not an error; items are restored
    users = read_jsonl(SHIPPED_ITEMS.with_name("longtail_profiles_user_profile.jsonl"))
    write_jsonl(results / "ml-100k_profiles" / "longtail_profiles_user_profile.jsonl", users[:5])
    out = run_script(ROOT / "llm" / "restore_profiles.py", "--data", ml100k_name, "--force", "true", env=env,
                     timeout=300).stdout
    assert "user_profile: skipped" in out and "covers a sample of the users" in out
    assert f"({len(users) - 5} with training interactions have none)" in out   # every ml-100k user trains
    assert not (tmp_path / "out" / ml100k_name / "longtail" / "embeddings" / "user_profile.npy").exists()
    (results / "ml-100k_profiles" / "longtail_profiles_user_profile.jsonl").unlink()
    (results / "ml-100k_profiles" / SHIPPED_ITEMS.name).unlink()
    with pytest.raises(AssertionError, match="no shipped item profiles here"):
        run_script(ROOT / "llm" / "restore_profiles.py", "--data", ml100k_name, env=env)


def test_large_shipped_texts_are_read_compressed(tmp_path, monkeypatch):
    """A profile file shipped as .jsonl.gz (Beauty's, over pipeline.SHIP_MAX_BYTES) is the shipped copy
    when no plain one exists, and reads back the rows that were written."""
    import gzip
    from pte.io import read_jsonl as read
    monkeypatch.setattr(pipeline, "RESULTS", tmp_path)
    rows = read_jsonl(SHIPPED_ITEMS)[:50]
    plain = pipeline.shipped_copy("ml-100k", pipeline.profile_path("ml-100k", "both", "item_profile"))
    assert plain.suffix == ".jsonl" and not plain.exists()
    packed = plain.with_name(plain.name + ".gz")
    write_jsonl(packed, rows)
    assert gzip.open(packed, "rt").readline().startswith('{"id"')   # really compressed
    assert pipeline.shipped_copy("ml-100k", pipeline.profile_path("ml-100k", "both", "item_profile")) == packed
    assert read(packed) == rows


def test_reproduce_from_shipped_profiles_runs_no_llm_stage(ml100k_name):
    results = os.environ["PTE_RESULTS"]
    shutil.copytree(ROOT / "results" / "ml-100k_profiles", os.path.join(results, "ml-100k_profiles"), dirs_exist_ok=True)
    out = run_script(ROOT / "reproduce.py", "--profiles", "shipped", "--quick", "true", "--backbones", "BiasMF",
                     "--settings", "coldstart", timeout=600).stdout
    assert "2. LLM side: align (coldstart)\n" in out and "restore_profiles" in out
    rows = [json.loads(line) for line in open(os.path.join(results, "ml-100k.jsonl"))]
    pte = next(r for r in rows if r.get("tag") == "quick" and r["method"] == "pte" and r["backbone"] == "BiasMF")
    assert os.sep + os.path.join("quick_shipped", "ml-100k", "coldstart") in pte["config"]["item_emb"]
    side = json.load(open(os.path.join(os.environ["PTE_OUTPUTS"], "quick_shipped", "ml-100k", "both", "embeddings",
                                       "item_profile.json")))
    assert side["encoder"] == "minilm" and side["real_rows"] == 1682 and side["restored_from"]
