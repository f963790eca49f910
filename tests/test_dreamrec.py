"""DreamRec: forward/reverse diffusion shapes, seeded determinism, classifier-free guidance,
and 1-epoch smoke runs of its Main.py in both settings."""
import json

import pytest
import torch
from torch import nn

from pte.reps import Representation
from pte.results import load_results
from tests.conftest import ROOT, backbone_model, run_script

N_ITEMS, DIM, MAX_LEN, T = 30, 16, 6, 12


dreamrec = backbone_model("DreamRec")


class ToyRep(Representation):
    def __init__(self):
        super().__init__()
        self.dim = DIM
        self.items = nn.Embedding(N_ITEMS, DIM)

    def item_table(self) -> torch.Tensor:
        return self.items.weight


def make_model(**kw) -> nn.Module:
    torch.manual_seed(0)
    model = dreamrec.DreamRec(ToyRep(), N_ITEMS, MAX_LEN, timesteps=T, **kw)
    return model.eval()


def histories(b: int = 5) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    x = torch.randint(N_ITEMS, (b, MAX_LEN), generator=g)
    x[0, :4] = N_ITEMS          # left padding
    x[1, :] = N_ITEMS           # an empty history (coldstart's first item)
    return x


@pytest.mark.parametrize("schedule", dreamrec.SCHEDULES)
def test_schedules_are_valid_variance_schedules(schedule):
    betas = dreamrec.beta_schedule(schedule, 200)
    assert betas.shape == (200,) and (betas > 0).all() and (betas < 1).all()
    diff = dreamrec.Diffusion(betas)
    ac = diff.alphas_cumprod
    assert (ac[1:] < ac[:-1]).all() and ac[-1] < 0.2   # noise grows; mostly noise at T
    # the last reverse step returns the predicted x0 itself
    x, x0 = torch.randn(3, DIM), torch.randn(3, DIM)
    assert torch.allclose(diff.ddpm_step(x, x0, 0, None), x0, atol=1e-6)
    assert diff.ddim_steps(4) == [199, 133, 66, 0]


def test_forward_and_reverse_shapes():
    model = make_model()
    x0 = torch.randn(7, DIM)
    t = torch.randint(T, (7,))
    assert model.diffusion.q_sample(x0, t, torch.randn_like(x0)).shape == (7, DIM)
    inputs = histories()
    for sampler in dreamrec.SAMPLERS:
        g = torch.Generator().manual_seed(0)
        assert model.generate(None, inputs, g, sampler, steps=4).shape == (5, DIM)
        scores = model.score(None, inputs, torch.Generator().manual_seed(0), sampler, steps=4)
        assert scores.shape == (5, N_ITEMS) and torch.isfinite(scores).all()
    model.train()
    last = model.loss(None, inputs, torch.randint(N_ITEMS, (5,)))                 # coldstart: one target a row
    every = torch.randint(N_ITEMS, (5, MAX_LEN)).masked_fill(inputs == N_ITEMS, N_ITEMS)
    per_position = model.loss(None, inputs, every)                               # longtail: every position
    for loss in (last, per_position):
        assert loss.dim() == 0 and torch.isfinite(loss)
    per_position.backward()
    assert model.rep.items.weight.grad.abs().sum() > 0  # items learn through the history encoder


def test_target_is_detached_unless_asked():
    target = torch.tensor([3, 4])
    inputs = torch.full((2, MAX_LEN), N_ITEMS)  # histories without items: only the target could reach the table
    for target_grad, expect in ((False, False), (True, True)):
        model = make_model(target_grad=target_grad).train()
        model.loss(None, inputs, target).backward()
        grad = model.rep.items.weight.grad
        assert (grad is not None and grad[3].abs().sum() > 0) == expect


@pytest.mark.parametrize("sampler", dreamrec.SAMPLERS)
def test_sampling_is_deterministic_given_a_seed(sampler):
    model, inputs = make_model(), histories()
    a = model.generate(None, inputs, torch.Generator().manual_seed(3), sampler, steps=4)
    b = model.generate(None, inputs, torch.Generator().manual_seed(3), sampler, steps=4)
    c = model.generate(None, inputs, torch.Generator().manual_seed(4), sampler, steps=4)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_guidance_weight_zero_is_the_conditional_prediction():
    x, h, t = torch.randn(4, DIM), torch.randn(4, DIM), torch.tensor([5])
    plain = make_model(guidance=0.0)
    assert torch.equal(plain.guided_x0(x, h, t), plain.denoise(x, h, t))
    guided = make_model(guidance=2.0)
    expect = 3 * guided.denoise(x, h, t) - 2 * guided.denoise(x, guided.none.expand_as(h), t)
    assert torch.allclose(guided.guided_x0(x, h, t), expect, atol=1e-6)
    assert not torch.allclose(guided.guided_x0(x, h, t), guided.denoise(x, h, t))


@pytest.mark.parametrize("setting, method", [("coldstart", "idreamrec"), ("longtail", "base")])
def test_main_one_epoch(ml100k_name, setting, method, tmp_path, monkeypatch):
    topk = tmp_path / "top.jsonl"
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # a tiny model: extra threads only wait on a busy CPU
    out = run_script("Main.py", "--data", ml100k_name, "--setting", setting, "--method", method, "--epochs", "1",
                     "--max_steps", "10", "--fraction", "0.05", "--timesteps", "20", "--save_topk", str(topk),
                     "--seed", "7", cwd=ROOT / "base_models" / "DreamRec")
    assert f"DreamRec / {method} on ml-100k ({setting})" in out.stdout
    assert "s per training epoch" in out.stdout
    row = [r for r in load_results(ml100k_name) if r["backbone"] == "DreamRec" and r["setting"] == setting][-1]
    for key in ("data", "setting", "backbone", "method", "seed", "eval", "valid", "test", "other",
                "best_epoch", "train_seconds", "eval_seconds", "config"):
        assert key in row
    assert row["method"] == method and row["seed"] == 7 and row["best_epoch"] == 1 and row["config"]["timesteps"] == 20
    assert row["eval"] == ("full" if setting == "coldstart" else "sampled")
    assert 0.0 <= row["test"]["NDCG@10"] <= row["test"]["HR@10"] <= 1.0
    if setting == "longtail":
        assert set(row["test"]["groups"]) == {"tail_item", "head_item", "tail_user", "head_user"}
        assert "full" in row["other"]
    lines = [json.loads(x) for x in topk.read_text().splitlines()]
    assert len(lines) == row["test"]["n"] and len(lines[0]["topk"]) == 50 and {"user", "target"} <= set(lines[0])
    assert len(set(lines[0]["topk"])) == 50
