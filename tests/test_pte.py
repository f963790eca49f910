"""PtE: its three methods, the id masking of unseen items/users and the files it reads (the alignment step
runs in tests/test_reproduce.py, inside the CI-sized pipeline)."""
import numpy as np
import pytest
import torch

from pte import reps
from pte.data import DataError
from pte.embeddings import load_embeddings, save_embeddings
from pte.reps import RepContext


def build(ml100k, split, method, monkeypatch, user_side=True, backbone="", **options):
    import pte.reps.pte as m
    monkeypatch.setattr(m, "PTE_USER_SIDE", user_side)
    torch.manual_seed(0)
    return reps.build(method, RepContext(ml100k, split, 16, options=options, backbone=backbone))


def text(ml100k):
    return str(ml100k.root / "item_text.npy")


def user_file(ml100k, path, setting=None, cold=None):
    users = np.random.default_rng(0).normal(size=(ml100k.n_users, 8)).astype(np.float32)
    if cold is not None:
        users[cold] = 0  # cold users have no profile row
    save_embeddings(path, users, ml100k.user_raw, kind="user", data="ml-100k", encoder="test",
                    **({"setting": setting} if setting else {}))
    return str(path)


def test_raw_learns_nothing_on_the_profile_side(ml100k, splits, monkeypatch):
    rep = build(ml100k, splits["longtail"], "pte_raw", monkeypatch, user_side=False, item_emb=text(ml100k))
    names = [n for n, p in rep.named_parameters() if p.requires_grad]
    assert all("ids" in n or "user_ids" in n for n in names)
    proj = build(ml100k, splits["longtail"], "pte_projection", monkeypatch, user_side=False, item_emb=text(ml100k))
    assert any("proj" in n for n, _ in proj.named_parameters())


def test_unseen_items_and_users_come_from_profiles_alone(ml100k, splits, monkeypatch, tmp_path):
    split = splits["coldstart"]
    cold = np.diff(split.train_ptr) == 0
    rep = build(ml100k, split, "pte_projection", monkeypatch, item_emb=text(ml100k),
                user_emb=user_file(ml100k, tmp_path / "u.npy", cold=cold))
    unseen = np.flatnonzero(np.bincount(split.train_items, minlength=ml100k.n_items) == 0)
    assert len(unseen) > 0
    rep.eval()  # no dropout: both calls must see the same MLP
    with torch.no_grad():
        table = rep.item_table()
        profile_only = rep.item.profile()
    assert torch.allclose(table[unseen], profile_only[unseen])
    u = torch.as_tensor(np.r_[np.flatnonzero(cold)[:3], -1])
    assert (rep.user.profile(u.clamp(min=0))[:3] == 0).all()  # cold users have no profile part


def test_dreamrec_gets_the_whitened_frozen_profiles(ml100k, splits, monkeypatch):
    """On DreamRec (PTE_FROZEN) the item table is E's top principal components, whitened and
    frozen: no ID and no trainable item parameter; other backbones keep m·ID + P(E)."""
    from pte.reps.common import whiten
    split = splits["coldstart"]
    rep = build(ml100k, split, "pte", monkeypatch, user_side=False, backbone="DreamRec", item_emb=text(ml100k))
    assert rep.item.ids is None and rep.item.proj is None
    assert not any(n.startswith("item.") for n, p in rep.named_parameters() if p.requires_grad)
    table = rep.item_table().detach().numpy()
    E = np.load(text(ml100k))
    assert np.allclose(table, whiten(E, "pca", 16), atol=1e-5)
    assert np.allclose(np.cov(table, rowvar=False), np.eye(16), atol=1e-3)   # whitened
    fused = build(ml100k, split, "pte", monkeypatch, user_side=False, backbone="SASRec", item_emb=text(ml100k))
    assert fused.item.ids is not None and fused.item.proj is not None
    import pte.reps.pte as m
    monkeypatch.setattr(m, "PTE_FROZEN", ())
    assert build(ml100k, split, "pte", monkeypatch, user_side=False, backbone="DreamRec",
                 item_emb=text(ml100k)).item.proj is not None


def test_the_unit_frozen_table_keeps_the_cosine_ranking(ml100k, splits, monkeypatch):
    """--pte_frozen_table unit: E's rows at unit length on their top singular directions, so a
    query's ranking of the items is its cosine ranking in E, up to the dropped energy (exact at
    full rank)."""
    import pte.reps.pte as m
    from pte.reps.common import unit_projection
    E = np.load(text(ml100k))
    unit = E / np.linalg.norm(E, axis=1, keepdims=True)
    full = unit_projection(E, E.shape[1])
    assert np.allclose(full @ full[:5].T, unit @ unit[:5].T, atol=1e-4)
    monkeypatch.setattr(m, "PTE_FROZEN_TABLE", "unit")
    rep = build(ml100k, splits["coldstart"], "pte", monkeypatch, user_side=False, backbone="DreamRec",
                item_emb=text(ml100k))
    table = rep.item_table().detach().numpy()
    assert rep.item.ids is None and np.allclose(table, unit_projection(E, 16), atol=1e-5)
    top = lambda t: np.argsort(-(t @ t[:20].T), axis=0)[:10]   # noqa: E731  each query item's top 10
    agree = np.mean([len(set(a) & set(b)) for a, b in zip(top(table).T, top(unit).T)]) / 10
    assert agree > 0.5
    monkeypatch.setattr(m, "PTE_FROZEN_TABLE", "zca")
    with pytest.raises(ValueError, match="pte_frozen_table"):
        build(ml100k, splits["coldstart"], "pte", monkeypatch, user_side=False, backbone="DreamRec", item_emb=text(ml100k))


@pytest.mark.parametrize("setting", ["coldstart", "longtail"])
@pytest.mark.parametrize("method", ["pte", "pte_raw"])
def test_no_training_position_sees_its_target(ml100k, splits, monkeypatch, setting, method):
    """The per-position user side of the sequence backbones, on their real training windows: the
    vector at position t is the same whatever the target (t + 1) and every later item are."""
    from pte.batch import as_tensor, causal_windows
    split = splits[setting]
    rep = build(ml100k, split, method, monkeypatch, user_side=False, item_emb=text(ml100k))
    rep.eval()
    users, inputs, targets = causal_windows(split, 10, 5, empty_prefix=setting == "coldstart")
    users, inputs = torch.as_tensor(users[:64]), as_tensor(inputs[:64], ml100k.n_items)
    targets = as_tensor(targets[:64], ml100k.n_items)
    assert (targets[:, :-1] != ml100k.n_items).any()
    with torch.no_grad():
        before = rep.sequence_user(users, inputs)
        assert before.shape == (64, inputs.shape[1], rep.dim) and before.abs().sum() > 0
        real = inputs != ml100k.n_items
        assert (before[~real] == 0).all() or setting == "longtail"  # nothing before the first item
        for t in range(inputs.shape[1] - 1):
            kept = targets[:, t] != ml100k.n_items
            assert (targets[kept, t] == inputs[kept, t + 1]).all()  # position t predicts item t + 1
            changed = inputs.clone()
            later = torch.randint(ml100k.n_items, changed[:, t + 1:].shape)
            changed[:, t + 1:] = torch.where(real[:, t + 1:], later, changed[:, t + 1:])
            after = rep.sequence_user(users, changed)
            assert torch.equal(after[:, :t + 1], before[:, :t + 1]), t
            assert not torch.equal(after[:, t + 1:], before[:, t + 1:])  # and it does read the items so far


def test_each_method_declares_the_files_it_reads():
    assert reps.method_class("pte").reads("longtail") == {"item_emb": "item_profile_aligned",
                                                           "user_emb": "user_profile_aligned"}
    assert reps.method_class("pte").reads("coldstart") == {"item_emb": "item_profile_aligned"}
    assert reps.method_class("pte_projection").reads("longtail")["item_emb"] == "item_profile"
    assert reps.method_class("morec").reads("coldstart") == {"item_emb": "item_text"}
    assert reps.method_class("base").reads("longtail") == {}


def test_missing_profiles_name_the_fix(ml100k, splits, monkeypatch, tmp_path):
    monkeypatch.setenv("PTE_OUTPUTS", str(tmp_path))  # no profiles written here
    with pytest.raises(DataError, match="inference_base_item.py"):
        build(ml100k, splits["longtail"], "pte_projection", monkeypatch)
    with pytest.raises(DataError, match="llm/align.py"):
        build(ml100k, splits["coldstart"], "pte", monkeypatch)


def test_a_flag_reads_exactly_its_file(ml100k, splits, monkeypatch, capsys):
    build(ml100k, splits["coldstart"], "pte", monkeypatch, item_emb=text(ml100k))  # no *_aligned substitution
    assert f"--item_emb: read {text(ml100k)}" in capsys.readouterr().out


def test_profiles_of_another_setting_are_refused(ml100k, splits, monkeypatch, tmp_path):
    """A longtail user profile saw every user's training items, coldstart test users' included."""
    longtail_users = user_file(ml100k, tmp_path / "long.npy", setting="longtail")
    with pytest.raises(DataError, match="made from the 'longtail' setting"):
        build(ml100k, splits["coldstart"], "pte_projection", monkeypatch, item_emb=text(ml100k),
              user_emb=longtail_users)
    both_users = user_file(ml100k, tmp_path / "both.npy", setting="both")
    with pytest.raises(DataError, match="the setting's own user profiles"):
        build(ml100k, splits["longtail"], "pte_projection", monkeypatch, item_emb=text(ml100k), user_emb=both_users)
    items = np.load(text(ml100k))
    save_embeddings(tmp_path / "items.npy", items, ml100k.item_raw, kind="item", data="ml-100k", encoder="t",
                    setting="both")
    assert load_embeddings(tmp_path / "items.npy", ml100k, "item", setting="coldstart").shape == items.shape
    build(ml100k, splits["longtail"], "pte_projection", monkeypatch, item_emb=str(tmp_path / "items.npy"),
          user_emb=user_file(ml100k, tmp_path / "own.npy", setting="longtail"))


def test_a_truncated_file_is_named(ml100k, tmp_path):
    path = tmp_path / "items.npy"
    save_embeddings(path, np.load(text(ml100k)), ml100k.item_raw, kind="item", data="ml-100k", encoder="t")
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DataError, match=f"{path}: not a readable .npy file"):
        load_embeddings(path, ml100k, "item")


def test_id_drop_hides_ids_in_training_only(ml100k, splits, monkeypatch):
    """--pte_id_drop p: in training about a share p of the seen items lose their ID part (their row is
    the profile part alone); in evaluation every seen item keeps it."""
    import pte.reps.pte as m
    monkeypatch.setattr(m, "PTE_ID_DROP", 0.5)
    rep = build(ml100k, splits["longtail"], "pte", monkeypatch, user_side=False, item_emb=text(ml100k))
    with torch.no_grad():
        torch.nn.init.normal_(rep.item.ids.weight)
        rep.item.proj.eval()   # the MLP's own dropout off: only the ID part may differ
        profile = rep.item.profile()
        rep.item.train()
        rep.item.proj.eval()
        dropped = torch.isclose(rep.item(), profile).all(1)
        rep.item.eval()
        kept = torch.isclose(rep.item(), profile).all(1)
    seen = rep.item.seen.bool()
    assert 0.4 < dropped[seen].float().mean() < 0.6
    assert not kept[seen].any()
