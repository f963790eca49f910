"""1-epoch smoke runs of every backbone's Main.py on ml-100k, run as a user would, and BiasMF's loss."""
import json

import numpy as np
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
    out = run_script("Main.py", "--data", ml100k_name, "--setting", setting, "--epochs", "1", "--max_steps", "10",
                     "--fraction", "0.05", "--save_topk", str(topk), "--seed", "7", *QUICK[backbone],
                     cwd=ROOT / "base_models" / backbone)
    assert f"{backbone} / base on ml-100k ({setting})" in out.stdout
    row = [r for r in load_results(ml100k_name) if r["backbone"] == backbone and r["setting"] == setting][-1]
    for key in ("data", "setting", "backbone", "method", "seed", "eval", "valid", "test", "other",
                "best_epoch", "train_seconds", "eval_seconds", "config"):
        assert key in row
    assert row["seed"] == 7 and row["best_epoch"] == 1
    # the facts a row's last digits depend on (the same seed prints other numbers on AVX2 and AVX512)
    assert row["machine"]["cpu"] == torch.backends.cpu.get_cpu_capability()
    assert row["machine"]["torch"].startswith("2.") and row["machine"]["threads"] >= 1
    assert row["inputs"] == {}   # Base reads no embedding file
    assert row["eval"] == ("full" if setting == "coldstart" else "sampled")
    assert 0.0 <= row["test"]["NDCG@10"] <= row["test"]["HR@10"] <= 1.0
    if setting == "longtail":
        assert set(row["test"]["groups"]) == {"tail_item", "head_item", "tail_user", "head_user"}
        assert "full" in row["other"]  # full-ranking numbers always reported beside sampled ones
    lines = [json.loads(x) for x in topk.read_text().splitlines()]
    assert lines and len(lines[0]["topk"]) == 50 and {"user", "target"} <= set(lines[0])
    assert len(set(lines[0]["topk"])) == 50


@pytest.mark.parametrize("negatives", ["0", "64"])  # every item (batches grouped by user), or 64 shared
def test_runs_from_repository_root_with_the_softmax_loss(ml100k_name, negatives):
    out = run_script(ROOT / "base_models" / "BiasMF" / "Main.py", "--data", ml100k_name, "--epochs", "1",
                     "--fraction", "0.05", "--eval", "full", "--loss", "softmax", "--negatives", negatives)
    assert "valid [full (selects)]" in out.stdout
    assert load_results(ml100k_name)[-1]["config"]["loss"] == "softmax"


def test_a_row_names_the_embedding_tables_it_read(ml100k_name, ml100k):
    """So rows made from different runs of the Profile stage stay apart (results.jsonl's "inputs")."""
    from pte.embeddings import fingerprint
    run_script(ROOT / "base_models" / "BiasMF" / "Main.py", "--data", ml100k_name, "--method", "morec",
               "--epochs", "1", "--fraction", "0.05", "--tag", "inputs")
    row = [r for r in load_results(ml100k_name) if r["tag"] == "inputs"][-1]
    (path, printed), = row["inputs"].items()
    assert path.endswith("item_text.npy") and (ROOT / path).resolve() == (ml100k.root / "item_text.npy").resolve()
    assert printed == fingerprint(np.load(ml100k.root / "item_text.npy"))
    assert printed != fingerprint(np.load(ml100k.root / "item_text.npy")[::-1])   # another table prints another


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


def test_softmax_loss_over_every_item_or_shared_candidates_without_the_positive():
    torch.manual_seed(0)
    n_items = 20
    model = backbone_model("BiasMF").BiasMF(ItemsOnly(n_items, 8), n_items, fold_in_history=True)
    with torch.no_grad():
        model.item_bias.normal_()
    users, inputs, pos = torch.arange(6), torch.randint(n_items + 1, (6, 4)), torch.randint(n_items, (6,))
    full = model.softmax_loss(users, inputs, pos, reg=0.0)
    assert torch.allclose(full, nn.functional.cross_entropy(model.score(users, inputs), pos))
    # every item as a shared candidate: each row's own positive is masked there and scored once
    assert torch.allclose(model.softmax_loss(users, inputs, pos, 0.0, torch.randperm(n_items)), full)
    few = torch.tensor([int(pos[0]), (int(pos[0]) + 1) % n_items])   # the positive, one other item
    expect = -torch.log_softmax(model.score(users, inputs)[0, few], 0)[0]
    assert torch.allclose(model.softmax_loss(users[:1], inputs[:1], pos[:1], 0.0, few), expect)


class ItemsAndUsers(ItemsOnly):
    def __init__(self, n_users: int, n_items: int, dim: int):
        super().__init__(n_items, dim)
        self.users = nn.Embedding(n_users, dim)

    def user_vectors(self, users: torch.Tensor) -> torch.Tensor:
        return self.users(users)


def test_full_softmax_scores_each_known_user_once_with_the_same_loss():
    torch.manual_seed(0)
    n_items = 20
    model = backbone_model("BiasMF").BiasMF(ItemsAndUsers(5, n_items, 8), n_items, fold_in_history=False)
    with torch.no_grad():
        model.item_bias.normal_()
    users, pos = torch.tensor([3, 1, 3, 3, 0, 1]), torch.randint(n_items, (6,))  # users repeat, as grouped
    inputs = torch.full((6, 1), n_items)
    expect = nn.functional.cross_entropy(model.score(users, inputs), pos)
    assert torch.allclose(model.softmax_loss(users, inputs, pos, reg=0.0), expect)


def test_sasrec_post_norm_layout_normalises_every_block_and_keeps_gradients():
    torch.manual_seed(0)
    n_items, dim = 30, 16
    sasrec = backbone_model("SASRec")
    post = sasrec.SASRec(ItemsOnly(n_items, dim), n_items, max_len=8, layers=2, heads=2, dropout=0.0, norm="post")
    assert not post.scale_inputs and isinstance(post.norm, nn.Identity)
    assert post.blocks[0].qkv.weight.std().item() < 0.03      # RecBole's N(0, 0.02), not PyTorch's default
    inputs = torch.randint(n_items, (5, 8))
    inputs[:, :3] = n_items                                     # left padding
    states = post.encode(inputs, post.rep.item_table())[:, 3:]  # real positions end on a LayerNorm
    assert torch.allclose(states.mean(-1), torch.zeros(5, 5), atol=1e-5)
    assert torch.allclose(states.std(-1, unbiased=False), torch.ones(5, 5), atol=1e-3)
    post.loss(None, inputs, torch.randint(n_items, (5,))).backward()
    assert post.rep.items.weight.grad.abs().sum() > 0 and post.norm_in.weight.grad.abs().sum() > 0
    pre = sasrec.SASRec(ItemsOnly(n_items, dim), n_items, max_len=8, layers=2, heads=2, dropout=0.0)
    assert pre.scale_inputs and isinstance(pre.norm_in, nn.Identity)


def test_max_steps_caps_an_epoch():
    from pte.experiment import descend
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    drawn = []

    def losses():
        for k in range(10):
            drawn.append(k)
            yield (p - 1).pow(2).sum()

    # (p - 1)^2 from p = 0 with SGD at lr 0.1: losses 1, 0.64, 0.4096, and their mean is the epoch's loss
    assert descend(opt, losses(), max_steps=3) == pytest.approx((1 + 0.64 + 0.4096) / 3)
    assert drawn == [0, 1, 2]   # the rest of the epoch's batches are never built
    drawn.clear()
    descend(opt, losses())
    assert drawn == list(range(10))
