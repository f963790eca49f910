"""1-epoch smoke runs of every backbone's Main.py on ml-100k, run as a user would, and BiasMF's loss."""
import json

import pytest
import torch
from torch import nn

from pte.reps import Representation
from pte.results import load_results
from tests.conftest import ROOT, backbone_model, run_script

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


class ItemsOnly(Representation):
    def __init__(self, n_items: int, dim: int):
        super().__init__()
        self.dim, self.items = dim, nn.Embedding(n_items, dim)

    def item_table(self) -> torch.Tensor:
        return self.items.weight


def test_bpr_with_several_negatives_is_the_mean_of_single_negative_losses():
    torch.manual_seed(0)
    n_items = 20
    model = backbone_model("BiasMF").BiasMF(ItemsOnly(n_items, 8), n_items, fold_in_history=True)
    users = torch.arange(6)
    inputs = torch.randint(n_items + 1, (6, 4))          # histories, n_items = padding
    pos, neg = torch.randint(n_items, (6,)), torch.randint(n_items, (6, 3))
    both = model.bpr_loss(users, inputs, pos, neg, reg=0.0)
    one_by_one = torch.stack([model.bpr_loss(users, inputs, pos, neg[:, k:k + 1], reg=0.0) for k in range(3)])
    assert torch.allclose(both, one_by_one.mean())
    assert not torch.allclose(one_by_one[0], one_by_one[1])  # the negatives do matter
