"""The baselines' defining properties (AlphaFuse, WhitenRec, UniSRec, LLMInit, MoRec, iDreamRec)
on ml-100k's MiniLM item embeddings, plus 1-epoch SASRec smoke runs of each in both settings."""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from pte import reps
from pte.reps import RepContext, alphafuse, idreamrec, llminit, morec, unisrec, whitenrec
from pte.reps.common import covariance_eig, item_language, rescale, whiten
from tests.conftest import ROOT, run_script

DIM = 32
OURS = ["morec", "unisrec", "whitenrec", "llminit", "alphafuse", "idreamrec"]


def text_ctx(ds, split):
    """The context a text baseline runs in: it reads data/<name>/item_text.npy."""
    return RepContext(ds, split, DIM, reads={"item_emb": "item_text"})


def build(name, ds, split):
    torch.manual_seed(0)
    return reps.build(name, RepContext(ds, split, DIM))


def cov(x):
    return np.cov(np.asarray(x, np.float64), rowvar=False)


def rank_identity(c, tol=1e-3):
    """c is the identity on its rank: eigenvalues are 0 or 1, and at least one is 1."""
    ev = np.linalg.eigvalsh(c)
    return np.all((np.abs(ev) < tol) | (np.abs(ev - 1) < tol)) and (np.abs(ev - 1) < tol).any()


# ---- shared math
def test_whiten_gives_identity_covariance():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 12)) @ rng.normal(size=(12, 12)) + 3.0   # correlated, offset
    for kind in ("pca", "zca"):
        assert np.allclose(cov(whiten(x, kind)), np.eye(12), atol=1e-6)
    low = np.c_[x[:, :6], x[:, :6] @ rng.normal(size=(6, 6))]          # rank 6 of 12: no inf/NaN
    w = whiten(low, "pca")
    assert np.isfinite(w).all() and np.allclose(cov(w), np.diag([1.0] * 6 + [0.0] * 6), atol=1e-6)
    assert abs(np.sqrt(np.mean(rescale(x) ** 2)) - 1) < 1e-5


# ---- AlphaFuse
@pytest.mark.parametrize("mode", ["code", "paper"])
def test_alphafuse_injects_ids_only_outside_the_kept_semantic_directions(mode, ml100k, splits, monkeypatch):
    monkeypatch.setattr(alphafuse, "ALPHAFUSE_MODE", mode)
    rep = build("alphafuse", ml100k, splits["coldstart"])
    k, n = rep.kept, DIM - rep.kept
    assert n == DIM // 2 and rep.ids.weight.shape == (ml100k.n_items, n) and rep.users is None
    assert rep.scale == DIM ** -0.5                                    # rows of ~unit norm: sqrt(DIM) standardised coords
    basis = rep.basis.double().numpy()                                 # [d_lang, DIM] unit directions
    assert np.allclose(basis.T @ basis, np.eye(DIM), atol=1e-5)        # orthonormal columns
    start = rep.item_table().detach().clone()
    assert torch.allclose(start, rep.scale * rep.sem)                  # ids start at zero: semantics only
    with torch.no_grad():
        rep.ids.weight.normal_()                                       # any learned ID part
    table = rep.item_table().detach()
    assert torch.equal(table[:, :k], start[:, :k])                     # kept semantic coordinates untouched
    id_part = (table - start)[:, k:].double().numpy()
    assert torch.allclose(table[:, k:] - start[:, k:], rep.scale * rep.ids.weight.detach(), atol=1e-6)
    # in the language space the ID part is id_part @ basis[:, k:]^T: orthogonal to every kept direction
    back = id_part @ basis[:, k:].T
    assert np.abs(back @ basis[:, :k]).max() < 1e-4 * np.abs(back).max()
    # where the ID goes: variance of E along the injection directions
    lang = rescale(item_language(text_ctx(ml100k, splits["coldstart"])))
    _, _, s = covariance_eig(lang)
    var = np.diag(basis.T @ cov(lang) @ basis)
    assert np.allclose(var[:k], s[:k], rtol=1e-3)                      # kept = the top principal components
    if mode == "paper":    # the n smallest eigenvalues of the FULL covariance: its (near-)null space
        assert np.allclose(var[k:], s[-n:], atol=1e-6 * s[0]) and var[k:].max() < 0.01 * s[k - 1]
    else:                  # released code: components k+1..DIM of the top DIM
        assert np.allclose(var[k:], s[k:DIM], rtol=1e-3)
    # standardised kept coordinates have unit variance and are uncorrelated
    assert np.allclose(cov(rep.sem[:, :k].numpy()), np.eye(k), atol=1e-3)


def test_alphafuse_null_threshold_sets_the_width(ml100k, splits, monkeypatch):
    lang = rescale(item_language(text_ctx(ml100k, splits["longtail"])))
    _, _, s = covariance_eig(lang)
    monkeypatch.setattr(alphafuse, "ALPHAFUSE_NULL_THRES", float(s[-10]))  # the 10 smallest eigenvalues
    rep = build("alphafuse", ml100k, splits["longtail"])
    assert DIM - rep.kept == 10 and rep.user_vectors(torch.arange(3)).shape == (3, DIM)


# ---- WhitenRec
def test_whitenrec_whitened_covariance_is_identity(ml100k, splits, monkeypatch):
    rep = build("whitenrec", ml100k, splits["coldstart"])
    white = rep.white.numpy()
    assert white.shape == (ml100k.n_items, 384) and np.allclose(white.mean(0), 0, atol=1e-4)
    c = cov(white)
    r = np.linalg.matrix_rank(item_language(text_ctx(ml100k, splits["coldstart"])) - white.mean(0), tol=1e-4)
    assert rank_identity(c) and round(np.trace(c)) == r               # identity on E's rank (MiniLM: 2 dead dims)
    assert [p.shape[0] for p in rep.parameters()] == [DIM, DIM]        # the adapter only: no item table
    monkeypatch.setattr(whitenrec, "WHITENREC_GROUPS", 4)
    plus = build("whitenrec", ml100k, splits["coldstart"])
    for block in np.array_split(plus.relaxed.numpy(), 4, axis=1):     # relaxed view: whitened per group
        assert rank_identity(cov(block))
    assert plus.item_table().shape == (ml100k.n_items, DIM)


# ---- UniSRec
def test_unisrec_gates_sum_to_one(ml100k, splits):
    rep = build("unisrec", ml100k, splits["coldstart"])
    moe = rep.moe
    assert moe.weight.shape == (unisrec.UNISREC_EXPERTS, 384, DIM) and rep.items is None
    rep.eval()
    g = moe.gates(rep.lang)
    assert torch.allclose(g, torch.full_like(g, 1 / unisrec.UNISREC_EXPERTS))  # W_g = 0 at init: uniform
    with torch.no_grad():
        moe.w_gate.normal_()
        moe.w_noise.normal_()
    for train in (False, True):                                        # clean and noisy gating
        rep.train(train)
        g = moe.gates(rep.lang)
        assert g.shape == (ml100k.n_items, unisrec.UNISREC_EXPERTS) and (g >= 0).all()
        assert torch.allclose(g.sum(-1), torch.ones(ml100k.n_items), atol=1e-5)
    rep.eval()                                                         # output = gate-weighted expert sum
    expected = (moe.gates(rep.lang)[..., None] * moe.experts(rep.lang)).sum(1)
    assert torch.allclose(rep.item_table(), expected, atol=1e-5)


def test_unisrec_experts_whiten_then_project():
    """Each expert is W_i(dropout(x) - b_i), with its own dropout mask, however it is computed."""
    torch.manual_seed(0)
    moe = unisrec.MoEAdaptor(3, 6, 4, dropout=0.5, noise=False).double()
    with torch.no_grad():
        moe.bias.normal_()
    x = torch.randn(5, 6, dtype=torch.float64)
    for train in (False, True):
        moe.train(train)
        torch.manual_seed(1)
        out = moe.experts(x)
        torch.manual_seed(1)
        keep = torch.rand(3, 5, 6) >= 0.5 if train else torch.ones(3, 5, 6, dtype=torch.bool)
        for i in range(3):
            dropped = x * keep[i] / (0.5 if train else 1.0)
            assert torch.allclose(out[:, i], (dropped - moe.bias[i]) @ moe.weight[i], atol=1e-12)
    assert not keep.all() and keep.any()                               # the masks did drop entries


# ---- LLMInit
@pytest.mark.parametrize("mode", ["var", "uni"])
def test_llminit_init_equals_the_selected_dims(mode, ml100k, splits, monkeypatch):
    monkeypatch.setattr(llminit, "LLMINIT_MODE", mode)
    split = splits["longtail"]
    rep = build("llminit", ml100k, split)
    lang = item_language(text_ctx(ml100k, split)).astype(np.float64)
    if mode == "uni":
        cols = np.arange(0, 384, 384 // DIM)[:DIM]
    else:   # by hand: variance over the top 20% items by training degree, top DIM, ascending
        degree = np.bincount(split.train_items, minlength=ml100k.n_items)
        popular = np.argsort(-degree, kind="stable")[:int(0.2 * ml100k.n_items)]
        cols = np.sort(np.argsort(-lang[popular].var(0, ddof=1))[:DIM])
    assert np.array_equal(rep.columns, cols)
    table = rep.item_table().detach().double().numpy()
    scale = llminit.LLMINIT_STD / lang[:, cols].std()
    assert np.allclose(table, lang[:, cols] * scale, rtol=1e-5, atol=1e-8)   # the selected dims, one scalar
    assert abs(table.std() - llminit.LLMINIT_STD) < 1e-6
    users = rep.user_vectors(torch.arange(ml100k.n_users)).detach().numpy()  # mean of training items' rows
    for u in (0, 7, ml100k.n_users - 1):
        assert np.allclose(users[u], table[split.train_sequence(u)].mean(0), atol=1e-6)
    assert build("llminit", ml100k, splits["coldstart"]).users is None


# ---- MoRec, iDreamRec
def test_morec_has_no_trainable_item_table(ml100k, splits):
    for setting in ("coldstart", "longtail"):
        rep = build("morec", ml100k, splits[setting])
        trainable = {k: p for k, p in rep.named_parameters() if p.requires_grad}
        assert not any(p.shape[0] == ml100k.n_items for p in trainable.values())
        assert all(k.startswith(("adapter.", "users.")) for k in trainable)
        assert (rep.users is None) == (setting == "coldstart")


def test_idreamrec_is_fully_frozen(ml100k, splits):
    rep = build("idreamrec", ml100k, splits["coldstart"])
    assert rep.dim == 384 and not list(rep.parameters())               # nothing trains; width = E's
    table = rep.item_table()
    assert not table.requires_grad and rank_identity(cov(table.numpy()))
    assert torch.equal(table, torch.as_tensor(whiten(item_language(text_ctx(ml100k, splits["coldstart"])))))
    lt = build("idreamrec", ml100k, splits["longtail"])                # longtail: only user IDs (for BiasMF)
    assert [k for k, _ in lt.named_parameters()] == ["users.weight"] and not lt.item_table().requires_grad


# ---- the method's constants are command-line options of every backbone
def test_constants_are_overridable():
    from pte.config import apply_overrides
    ns = {"METHOD": "base"}
    before = alphafuse.ALPHAFUSE_NULL_DIM
    try:
        apply_overrides(ns, ["--alphafuse_null_dim", "8"], extra=reps.method_namespaces())
        assert alphafuse.ALPHAFUSE_NULL_DIM == 8
    finally:
        alphafuse.ALPHAFUSE_NULL_DIM = before
    for mod in (alphafuse, idreamrec, llminit, morec, unisrec, whitenrec):
        prefix = mod.__name__.rsplit(".", 1)[-1].upper() + "_"
        assert all(k.startswith(prefix) for k, v in vars(mod).items() if k.isupper() and isinstance(v, (int, float, str)))


# ---- 1-epoch SASRec runs, as a user would (iDreamRec is DreamRec's: tests/test_dreamrec.py runs it)
@pytest.mark.parametrize("method", [m for m in OURS if m != "idreamrec"])
def test_sasrec_one_epoch(method, ml100k_name):
    # the two settings side by side, one torch thread each (conftest): both of CI's 2 cores busy
    def run(setting):
        return run_script(ROOT / "base_models" / "SASRec" / "Main.py", "--data", ml100k_name, "--method", method,
                          "--setting", setting, "--epochs", "1", "--max_steps", "5", "--fraction", "0.05",
                          "--max_len", "20", "--layers", "1", "--batch_size", "512").stdout

    settings = ("coldstart", "longtail")
    with ThreadPoolExecutor(2) as pool:
        outs = list(pool.map(run, settings))
    for setting, out in zip(settings, outs):
        assert f"SASRec / {method} on ml-100k ({setting})" in out
