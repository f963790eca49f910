"""Invariants of both settings' splits on the real ml-100k."""
import numpy as np

from pte.splits import PAD, build_longtail, eighty_twenty_threshold


def test_ml100k_as_distributed(ml100k):
    assert (ml100k.n_users, ml100k.n_items, len(ml100k.item)) == (943, 1682, 100_000)
    assert ml100k.items[0]["title"] == "Toy Story" and ml100k.items[0]["genres"].startswith("Animation")
    # each user's sequence is time-ordered
    d = np.diff(ml100k.timestamp)
    same_user = np.diff(ml100k.user) == 0
    assert (d[same_user] >= 0).all()


def test_ties_keep_file_order(tmp_path):
    from pte.data.recbole import from_atomic_folder
    (tmp_path / "t.inter").write_text("user_id:token\titem_id:token\ttimestamp:float\n"
                                      "u\tb\t5\nu\ta\t5\nu\tc\t1\nv\ta\t2\n")
    ds = from_atomic_folder(tmp_path)
    assert [ds.item_raw[i] for i in ds.sequence(ds.user_raw.index("u"))] == ["c", "b", "a"]


def test_coldstart_partitions(ml100k, splits):
    s = splits["coldstart"]
    tr, va, te = (set(np.unique(p.users)) for p in (s.train_samples, s.valid, s.test))
    assert not (tr & va) and not (tr & te) and not (va & te)
    assert (len(tr), len(va), len(te)) == (754, 94, 95)
    # users ordered by their last interaction, from the raw (user, timestamp) rows alone (not the
    # split's per-user pointers): training users first, then validation, then test
    last = np.full(ml100k.n_users, -np.inf)
    np.maximum.at(last, ml100k.user, ml100k.timestamp)
    tr_l, va_l, te_l = (np.array(sorted(p)) for p in (tr, va, te))
    assert last[tr_l].max() <= last[va_l].min() and last[va_l].max() <= last[te_l].min()
    # and the partitions are exactly the 8:1:1 cut of that order (ties, none on ml-100k, by user index)
    assert len(np.unique(last)) == ml100k.n_users
    order = np.lexsort((np.arange(ml100k.n_users), last))
    assert (set(order[:754]), set(order[754:848]), set(order[848:])) == (tr, va, te)
    # one sample per interaction of the partition's users; cold users have no training items
    for part, users in ((s.valid, va), (s.test, te)):
        assert len(part) == sum(len(ml100k.sequence(u)) for u in users)
        assert all(len(s.train_sequence(u)) == 0 for u in users)


def test_coldstart_prefixes(ml100k, splits):
    s = splits["coldstart"].test
    u = next(u for u in s.users if len(ml100k.sequence(u)) > 40)
    seq = ml100k.sequence(u)
    rows = np.flatnonzero(s.users == u)
    assert (s.inputs[rows[0]] == PAD).all() and s.targets[rows[0]] == seq[0]  # empty prefix first
    for k in (1, 5, 10, 30):
        prefix = s.inputs[rows[k]]
        expect = seq[max(0, k - 10):k]
        assert (prefix[prefix != PAD] == expect).all() and s.targets[rows[k]] == seq[k]
    assert s.exclude_ptr is None and s.negatives is None  # full ranking, prefix items not removed


def test_longtail_leave_one_out(ml100k, splits):
    s = splits["longtail"]
    for u in (0, 17, 942):
        seq = ml100k.sequence(u)
        assert s.test.targets[u] == seq[-1] and s.valid.targets[u] == seq[-2]
        assert (s.train_sequence(u) == seq[:-2]).all()
        t_in, v_in = s.test.inputs[u], s.valid.inputs[u]
        assert (t_in[t_in != PAD] == seq[:-1][-200:]).all() and (v_in[v_in != PAD] == seq[:-2][-200:]).all()
        # full-ranking exclusions: train items (valid); train + valid items (test)
        ex_v = set(s.valid.exclude_idx[s.valid.exclude_ptr[u]:s.valid.exclude_ptr[u + 1]])
        ex_t = set(s.test.exclude_idx[s.test.exclude_ptr[u]:s.test.exclude_ptr[u + 1]])
        assert ex_v == set(seq[:-2]) - {seq[-2]} and ex_t == set(seq[:-1]) - {seq[-1]}


def test_longtail_negatives(ml100k, splits):
    s = splits["longtail"]
    for part in (s.valid, s.test):
        assert part.negatives.shape == (943, 100)
        for u in range(0, 943, 37):
            neg = part.negatives[u]
            assert len(set(neg)) == 100 and not (set(neg) & set(ml100k.sequence(u)))
    # seeded: rebuilding gives the same negatives
    again = build_longtail(ml100k)
    assert (again.test.negatives == s.test.negatives).all()


def test_longtail_groups_and_thresholds(ml100k, splits):
    s = splits["longtail"]
    lens = np.diff(ml100k.user_ptr)
    assert s.info["ts_user"] == eighty_twenty_threshold(lens - 1)
    assert s.info["ts_item"] == eighty_twenty_threshold(ml100k.item_popularity)
    g = s.test.groups
    assert (g["tail_user"] == (lens - 1 < s.info["ts_user"])).all()
    assert (g["tail_item"] == (ml100k.item_popularity[s.test.targets] < s.info["ts_item"])).all()
    assert (g["tail_user"] ^ g["head_user"]).all() and (g["tail_item"] ^ g["head_item"]).all()
    assert 0.7 < g["tail_user"].mean() < 0.9  # the 80/20 rule puts ~80% of users in the tail


def test_known_thresholds_are_used(ml100k):
    ds = ml100k
    orig = ds.name
    try:
        ds.name = "Beauty"
        assert (build_longtail(ds).info["ts_user"], build_longtail(ds).info["ts_item"]) == (9, 4)
    finally:
        ds.name = orig


def test_hold_out_last_never_touches_validation(splits):
    from pte.splits import hold_out_last
    for name, s in splits.items():
        h = hold_out_last(s)
        trained = {u: s.train_sequence(u) for u in range(s.n_users) if len(s.train_sequence(u)) >= 2}
        assert sorted(h.valid.users) == sorted(trained) and len(h.test) == 0
        assert len(h.train_items) == len(s.train_items) - len(trained)
        for u in list(trained)[::97]:
            seq, r = trained[u], int(np.flatnonzero(h.valid.users == u)[0])
            assert (h.train_sequence(u) == seq[:-1]).all() and h.valid.targets[r] == seq[-1]
            inp = h.valid.inputs[r]
            assert (inp[inp != PAD] == seq[:-1][-10:]).all()
            masked = set(h.valid.exclude_idx[h.valid.exclude_ptr[r]:h.valid.exclude_ptr[r + 1]])
            assert masked == set(seq[:-1]) - {seq[-1]}
        # built from training interactions only: no validation or test target of the split is added
        assert np.array_equal(np.sort(np.concatenate([h.train_items, h.valid.targets])), np.sort(s.train_items)), name
