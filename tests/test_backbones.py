"""1-epoch smoke runs of every backbone's Main.py on ml-100k, run as a user would."""
import json

import pytest

from pte.results import load_results
from tests.conftest import ROOT, run_script

QUICK = {"BiasMF": [], "SASRec": ["--max_len", "20", "--layers", "1"]}


@pytest.mark.parametrize("backbone", sorted(QUICK))
@pytest.mark.parametrize("setting", ["coldstart", "longtail"])
def test_main_one_epoch(ml100k_name, backbone, setting, tmp_path):
    topk = tmp_path / "top.jsonl"
    # the paper's README form: cd into the backbone's folder and run Main.py
    out = run_script("Main.py", "--data", ml100k_name, "--setting", setting, "--epochs", "1",
                     "--fraction", "0.05", "--save_topk", str(topk), "--seed", "7", *QUICK[backbone],
                     cwd=ROOT / "base_models" / backbone)
    assert f"{backbone} / base on ml-100k ({setting})" in out.stdout
    row = [r for r in load_results(ml100k_name) if r["backbone"] == backbone and r["setting"] == setting][-1]
    for key in ("data", "setting", "backbone", "method", "seed", "eval", "valid", "test", "other",
                "best_epoch", "train_seconds", "eval_seconds", "config"):
        assert key in row
    assert row["seed"] == 7 and row["best_epoch"] == 1
    assert row["eval"] == ("full" if setting == "coldstart" else "sampled")
    assert 0.0 <= row["test"]["NDCG@10"] <= row["test"]["HR@10"] <= 1.0
    if setting == "longtail":
        assert set(row["test"]["groups"]) == {"tail_item", "head_item", "tail_user", "head_user"}
        assert "full" in row["other"]  # full-ranking numbers always reported beside sampled ones
    lines = [json.loads(x) for x in topk.read_text().splitlines()]
    assert lines and len(lines[0]["topk"]) == 50 and {"user", "target"} <= set(lines[0])
    assert len(set(lines[0]["topk"])) == 50


def test_runs_from_repository_root(ml100k_name):
    out = run_script(ROOT / "base_models" / "BiasMF" / "Main.py", "--data", ml100k_name, "--epochs", "1",
                     "--fraction", "0.05", "--eval", "full")
    assert "valid [full (selects)]" in out.stdout


def test_bad_option_lists_valid_keys(ml100k_name):
    with pytest.raises(AssertionError) as e:
        run_script(ROOT / "base_models" / "SASRec" / "Main.py", "--epoch", "1")
    assert "unknown option --epoch" in str(e.value) and "epochs" in str(e.value)
    with pytest.raises(AssertionError, match="needs stored negatives"):
        run_script(ROOT / "base_models" / "BiasMF" / "Main.py", "--setting", "coldstart", "--eval", "sampled")
