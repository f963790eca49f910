"""RLMRec-Con/Gen and LLM-ESR: auxiliary losses, LLM-ESR's neighbours and cross-attention,
and 1-epoch smoke runs through the backbones (the registry-wide checks are in test_reps.py)."""
import numpy as np
import pytest
import torch

from pte import reps
from pte.embeddings import save_embeddings
from pte.reps import Batch, RepContext
from pte.reps.common import cosine_neighbours, history_mean
from tests.conftest import ROOT, run_script

DIM = 32


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """Tiny models: one intra-op thread each (here and in the scripts run) avoids oversubscribing a shared CPU."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def build(name, ds, split, **options):
    torch.manual_seed(0)
    return reps.build(name, RepContext(ds, split, DIM, options=options))


def toy_encode(rep, n_items):
    """A stand-in sequence encoder: contextualized item vectors, averaged over real positions."""
    def encode(inputs):
        table = torch.cat([rep.item_table(), torch.zeros(1, rep.dim)])
        real = inputs != n_items
        h = rep.contextualize(table[inputs], real) * real.unsqueeze(-1)
        return h.sum(1) / real.sum(1, keepdim=True).clamp(min=1)
    return encode


def training_batch(split, n_items, rows=64, length=8):
    from pte.batch import as_tensor
    from pte.splits import windows
    users = np.flatnonzero(np.diff(split.train_ptr) > 1)[:rows]
    inputs = windows(split.train_items, split.train_ptr[users], split.train_ptr[users + 1], length)
    return torch.as_tensor(users, dtype=torch.long), as_tensor(inputs, n_items)


@pytest.mark.parametrize("name", ["rlmrec_con", "rlmrec_gen", "llmesr"])
def test_aux_loss_decreases(name, ml100k, splits):
    split = splits["longtail"]
    rep = build(name, ml100k, split)
    users, inputs = training_batch(split, ml100k.n_items)
    encode = toy_encode(rep, ml100k.n_items)
    # the batch's user states start away from anything the method would pull them to
    shift = torch.nn.Parameter(torch.randn(len(users), rep.dim))
    opt = torch.optim.Adam([*rep.parameters(), shift], lr=3e-3)

    def aux(seed):
        torch.manual_seed(seed)  # the same masks / drawn items before and after training
        rep.item_table()         # rlmrec_gen draws its mask here, as a backbone's forward pass would
        return rep.aux_loss(Batch(users, inputs, encode(inputs) + shift, encode=encode))

    first = aux(123)
    assert first is not None and first.dim() == 0 and torch.isfinite(first) and first.item() > 0
    for step in range(50):
        loss = aux(step)
        opt.zero_grad()
        loss.backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in rep.parameters())
        opt.step()
    assert aux(123).item() < 0.9 * first.item()


def test_rlmrec_gen_masks_only_in_training(ml100k, splits):
    rep = build("rlmrec_gen", ml100k, splits["longtail"])
    rep.train()
    masked = (rep.item_table() != rep.items.weight).any(1).sum().item()
    assert masked == max(int(ml100k.n_items * reps.rlmrec.RLMREC_MASK_RATIO), 1)
    rep.eval()
    assert torch.equal(rep.item_table(), rep.items.weight)


def test_llmesr_neighbours_use_training_interactions_only(ml100k, splits, tmp_path):
    for setting, split in splits.items():
        rep = build("llmesr", ml100k, split)
        nb = rep.neighbours.numpy()
        has_train = np.diff(split.train_ptr) > 0
        assert nb.shape == (ml100k.n_users, reps.llmesr.LLMESR_NEIGHBOURS)
        assert not (nb == np.arange(ml100k.n_users)[:, None]).any(), "a user is its own neighbour"
        assert has_train[nb[nb >= 0]].all(), "a neighbour without training interactions"
        assert (nb[~has_train] == -1).all() and (nb[has_train] >= 0).all()
        if setting == "coldstart":  # validation/test users have no training items: never distilled, never neighbours
            assert not has_train[np.unique(np.concatenate([split.valid.users, split.test.users]))].any()
        # user vectors = mean language vector of the user's TRAINING items
        lang = rep.lang.numpy()
        means, ok = history_mean(split, lang)
        for u in np.flatnonzero(has_train)[:5]:
            np.testing.assert_allclose(means[u], lang[split.train_sequence(u)].mean(0), rtol=1e-4, atol=1e-5)
        centred = means - means[ok].mean(0)
        np.testing.assert_array_equal(nb, cosine_neighbours(centred, nb.shape[1], candidates=ok, queries=ok))

    # --user_emb replaces the built vectors; candidates stay users with training interactions
    split = splits["coldstart"]
    vec = np.random.default_rng(0).normal(size=(ml100k.n_users, 8)).astype(np.float32)
    path = tmp_path / "users.npy"
    save_embeddings(path, vec, list(ml100k.user_raw), kind="user", data=ml100k.name, encoder="test")
    nb = build("llmesr", ml100k, split, user_emb=str(path)).neighbours.numpy()
    ok = np.diff(split.train_ptr) > 0
    np.testing.assert_array_equal(nb, cosine_neighbours(vec, nb.shape[1], candidates=ok))


def test_llmesr_contextualize(ml100k, splits):
    rep = build("llmesr", ml100k, splits["longtail"])
    inputs = torch.randint(ml100k.n_items, (3, 7))
    real = torch.ones(3, 7, dtype=torch.bool)
    real[0, :4] = False
    x = rep.item_table()[inputs]
    y = rep.contextualize(x, real)
    assert y.shape == x.shape and torch.isfinite(y).all()
    y[real].pow(2).sum().backward()
    assert rep.ids.grad.abs().sum() > 0, "no gradient to the ID view"
    assert all(p.grad.abs().sum() > 0 for p in rep.adapter.parameters()), "no gradient to the semantic view"
    # causal: a later item never changes an earlier position; padded keys are ignored
    x2 = x.detach().clone()
    x2[:, -1] += 1.0
    x2[0, 0] += 5.0  # a padded slot
    y1, y2 = rep.contextualize(x.detach(), real), rep.contextualize(x2, real)
    torch.testing.assert_close(y1[:, :-1][real[:, :-1]], y2[:, :-1][real[:, :-1]])
    assert not torch.allclose(y1[:, -1], y2[:, -1])


def test_llmesr_skips_unknown_users(ml100k, splits):
    split = splits["coldstart"]
    rep = build("llmesr", ml100k, split)
    eval_users = torch.as_tensor(np.unique(split.test.users)[:4], dtype=torch.long)
    users = torch.cat([torch.tensor([-1, -1]), eval_users])
    inputs = torch.randint(ml100k.n_items, (len(users), 5))
    encode = toy_encode(rep, ml100k.n_items)
    assert rep.aux_loss(Batch(users, inputs, encode(inputs), encode=encode)) is None


def counted_batch(ml100k, split):
    """An llmesr rep, a training batch whose encoder records the rows of every call, and that record."""
    rep = build("llmesr", ml100k, split)
    users, inputs = training_batch(split, ml100k.n_items)
    encode = toy_encode(rep, ml100k.n_items)
    calls = []

    def counted(x):
        calls.append(len(x))
        return encode(x)
    return rep, Batch(users, inputs, encode(inputs), encode=counted), calls


def test_llmesr_refresh_reuses_states(ml100k, splits, monkeypatch):
    """LLMESR_REFRESH = N: the same loss as the per-step original right after a refresh, and
    every user's state encoded once per N steps instead of each batch's neighbours every step."""
    rep, batch, calls = counted_batch(ml100k, splits["longtail"])
    monkeypatch.setattr(reps.llmesr, "LLMESR_REFRESH", 0)   # the original: every batch's neighbours, every step
    fresh = rep.aux_loss(batch)
    assert calls and max(calls) < ml100k.n_users
    monkeypatch.setattr(reps.llmesr, "LLMESR_REFRESH", 3)
    monkeypatch.setattr(reps.llmesr, "LLMESR_REFRESH_WORK", 0)   # N steps, whatever a refresh costs
    calls.clear()
    losses = [rep.aux_loss(batch) for _ in range(5)]
    assert torch.allclose(losses[0], fresh)
    assert calls == [ml100k.n_users, ml100k.n_users]   # refreshed at steps 1 and 4


def test_llmesr_refresh_work_is_bounded(ml100k, splits, monkeypatch):
    """LLMESR_REFRESH_WORK: refreshes come no more often than keeps their encoding within that many
    batches per step, so on more users they are rarer; the shipped recipe's ml-100k runs keep N = 20."""
    rep, batch, calls = counted_batch(ml100k, splits["longtail"])
    monkeypatch.setattr(reps.llmesr, "LLMESR_REFRESH", 2)
    monkeypatch.setattr(reps.llmesr, "LLMESR_REFRESH_WORK", 1.0)
    every = -(-ml100k.n_users // len(batch.users))          # ceil(n_users / batch)
    assert every > 2
    for _ in range(every + 1):
        rep.aux_loss(batch)
    assert calls == [ml100k.n_users, ml100k.n_users]  # at step 1 and step every + 1
    assert rep.refresh_every() == every
    for b in (32, 64):                                 # the SASRec/DreamRec batch sizes of both settings
        rep._batch = b
        monkeypatch.setattr(reps.llmesr, "LLMESR_REFRESH_WORK", 1.5)
        monkeypatch.setattr(reps.llmesr, "LLMESR_REFRESH", 20)
        assert rep.refresh_every() == 20


# one epoch of 5 steps (--fraction cuts evaluation rows); what the methods compute is tested in-process
SMOKE = ["--epochs", "1", "--max_steps", "5", "--fraction", "0.05", "--max_len", "20", "--layers", "1",
         "--batch_size", "512"]


@pytest.mark.parametrize("method", ["rlmrec_con", "rlmrec_gen", "llmesr"])
@pytest.mark.parametrize("setting", ["coldstart", "longtail"])
def test_sasrec_one_epoch(ml100k_name, method, setting):
    out = run_script(ROOT / "base_models" / "SASRec" / "Main.py", "--data", ml100k_name, "--setting", setting,
                     "--method", method, *SMOKE)
    assert f"SASRec / {method} on ml-100k ({setting})" in out.stdout


def test_biasmf_rlmrec_con_one_epoch(ml100k_name):
    out = run_script(ROOT / "base_models" / "BiasMF" / "Main.py", "--data", ml100k_name, "--method", "rlmrec_con",
                     "--epochs", "1", "--max_steps", "5", "--fraction", "0.05", "--rlmrec_con_weight", "0.05")
    assert "BiasMF / rlmrec_con on ml-100k (longtail)" in out.stdout
