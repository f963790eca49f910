"""The paper's two evaluation settings, built once per dataset and stored beside it.

coldstart (Table 3; AlphaFuse/DreamRec protocol)
    Users, ordered by their last interaction (ties: file order), are split 8:1:1; every
    position of a user's time-ordered sequence is a sample (last <= 10 items -> next item;
    the first item has an empty prefix). Ranking is over all items; prefix items are
    not removed.
longtail (Table 4; LLM-ESR protocol)
    Leave-one-out: train on all but the last two items, validate on the second-to-last
    (input: the items before it), test on the last (input: all items before it), inputs
    truncated to the last 200. 100 negatives per user, never interacted with, drawn
    without replacement from a seeded generator and stored. Groups: tail user = input
    shorter than ts_user; tail item = whole-data popularity below ts_item.

Sequences inside a split are left-padded with PAD (-1); the most recent item is last.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from pte.data.atomic import DataError
from pte.data.dataset import Dataset
from pte.io import read_json, save_npz, write_json

PAD = -1
SETTINGS = ("coldstart", "longtail")
COLDSTART_PREFIX = 10
COLDSTART_RATIOS = (0.8, 0.1, 0.1)
LONGTAIL_MAX_LEN = 200
N_NEGATIVES = 100
SPLIT_SEED = 2024
# LLM-ESR's published thresholds (ts_user, ts_item); other datasets use the 80/20 rule.
KNOWN_THRESHOLDS = {"yelp": (12, 13), "fashion": (3, 4), "beauty": (9, 4)}
SPLIT_VERSION = 1


@dataclass
class Samples:
    """Rows to score: who, with which history, which target, and how to rank it."""
    users: np.ndarray                       # [N] internal user id (-1 when the source has none)
    inputs: np.ndarray                      # [N, L] item ids, left-padded with PAD
    targets: np.ndarray                     # [N]
    negatives: np.ndarray | None = None     # [N, 100] stored negatives (sampled mode)
    exclude_ptr: np.ndarray | None = None   # CSR over rows: items masked in full ranking
    exclude_idx: np.ndarray | None = None
    groups: dict[str, np.ndarray] = field(default_factory=dict)  # name -> bool [N]

    def __len__(self) -> int:
        return len(self.targets)

    def subset(self, rows: np.ndarray) -> "Samples":
        rows = np.asarray(rows)
        ex_ptr = ex_idx = None
        if self.exclude_ptr is not None:
            starts, ends = self.exclude_ptr[rows], self.exclude_ptr[rows + 1]
            ex_idx = np.concatenate([self.exclude_idx[s:e] for s, e in zip(starts, ends)] or [np.zeros(0, np.int32)])
            ex_ptr = np.concatenate([[0], np.cumsum(ends - starts)])
        return Samples(self.users[rows], self.inputs[rows], self.targets[rows],
                       None if self.negatives is None else self.negatives[rows], ex_ptr, ex_idx,
                       {k: v[rows] for k, v in self.groups.items()})


@dataclass
class Split:
    setting: str
    n_users: int
    n_items: int
    train_ptr: np.ndarray        # CSR: user u trains on train_items[train_ptr[u]:train_ptr[u+1]]
    train_items: np.ndarray
    valid: Samples
    test: Samples
    train_samples: Samples | None = None   # coldstart: every (prefix -> next) of training users
    info: dict = field(default_factory=dict)

    def train_sequence(self, u: int) -> np.ndarray:
        return self.train_items[self.train_ptr[u]:self.train_ptr[u + 1]]

    @property
    def train_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(user, item) of every training interaction."""
        users = np.repeat(np.arange(self.n_users), np.diff(self.train_ptr))
        return users, self.train_items


def windows(items: np.ndarray, starts: np.ndarray, ends: np.ndarray, length: int) -> np.ndarray:
    """Row r = the last <= length items of items[starts[r]:ends[r]], left-padded with PAD."""
    idx = ends[:, None] + np.arange(-length, 0)[None, :]
    valid = idx >= starts[:, None]
    return np.where(valid, items[np.clip(idx, 0, max(len(items) - 1, 0))], PAD).astype(np.int32)


def _csr(items: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lens = ends - starts
    ptr = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    if len(starts) == 0 or ptr[-1] == 0:
        return ptr, np.zeros(0, np.int32)
    offsets = np.arange(ptr[-1]) - np.repeat(ptr[:-1], lens) + np.repeat(starts, lens)
    return ptr, items[offsets].astype(np.int32)


def _exclusions(items, starts, ends, targets) -> tuple[np.ndarray, np.ndarray]:
    """History items to mask in full ranking; a re-consumed target itself stays rankable."""
    ptr, idx = _csr(items, starts, ends)
    keep = idx != np.repeat(targets, np.diff(ptr))
    lens = np.add.reduceat(keep, ptr[:-1]) if len(idx) else np.zeros(len(starts), np.int64)
    lens = np.where(np.diff(ptr) == 0, 0, lens)
    return np.concatenate([[0], np.cumsum(lens)]).astype(np.int64), idx[keep]


def eighty_twenty_threshold(counts: np.ndarray) -> int:
    """The count of the last entity in the top 20%: head = count >= it, tail = below it."""
    ranked = np.sort(counts)[::-1]
    return int(ranked[max(int(np.ceil(0.2 * len(ranked))) - 1, 0)])


def dataset_fingerprint(ds: Dataset) -> str:
    h = hashlib.sha1()
    for a in (ds.user, ds.item, ds.timestamp):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def _popularity_groups(ds: Dataset, targets: np.ndarray, ts_item: int) -> dict[str, np.ndarray]:
    tail = ds.item_popularity[targets] < ts_item
    return {"tail_item": tail, "head_item": ~tail}


def settings_of(ds: Dataset) -> tuple[str, ...]:
    """The settings a dataset supports: coldstart needs real timestamps (it orders users by time)."""
    return SETTINGS if ds.meta.get("timestamps", True) else ("longtail",)


def _no_coldstart(ds: Dataset) -> DataError:
    return DataError(f"{ds.name} has no timestamps, only each user's order ({ds.meta.get('source', 'its files')}): "
                     f"the coldstart protocol splits users by the time of their last interaction and cannot be "
                     f"built faithfully. Use --setting longtail (leave-one-out needs only the order)")


def build_coldstart(ds: Dataset, prefix: int = COLDSTART_PREFIX,
                    ratios: tuple[float, float, float] = COLDSTART_RATIOS) -> Split:
    if "coldstart" not in settings_of(ds):
        raise _no_coldstart(ds)
    ptr = ds.user_ptr
    last_row = ptr[1:] - 1  # rows are time-sorted per user, so a user's last row is their latest
    if np.any(np.diff(ptr) == 0):
        raise DataError(f"{ds.name}: users without interactions; re-prepare the dataset")
    # order users by last timestamp; ties by the file position of that interaction (stable order of rows)
    order = np.lexsort((last_row, ds.timestamp[last_row]))
    n = ds.n_users
    n_train, n_valid = int(round(ratios[0] * n)), int(round(ratios[1] * n))
    parts = np.split(order, [n_train, n_train + n_valid])
    if min(len(p) for p in parts) == 0:
        raise DataError(f"{ds.name}: {n} users are too few for an {ratios} user split (a partition is empty)")
    ts_item = eighty_twenty_threshold(ds.item_popularity)

    def samples(users: np.ndarray) -> Samples:
        users = np.sort(users)
        lens = ptr[users + 1] - ptr[users]
        rows = np.concatenate([np.arange(ptr[u], ptr[u + 1]) for u in users])
        starts = np.repeat(ptr[users], lens)
        targets = ds.item[rows].astype(np.int32)
        return Samples(np.repeat(users, lens).astype(np.int32), windows(ds.item, starts, rows, prefix), targets,
                       groups=_popularity_groups(ds, targets, ts_item))

    train_users = np.sort(parts[0])
    is_train = np.zeros(n, bool)
    is_train[train_users] = True
    train_ptr, train_items = _csr(ds.item, ptr[:-1], np.where(is_train, ptr[1:], ptr[:-1]))
    info = {"setting": "coldstart", "prefix": prefix, "ratios": list(ratios),
            "user_order": "last interaction timestamp, ties by file order",
            "n_train_users": len(parts[0]), "n_valid_users": len(parts[1]), "n_test_users": len(parts[2]),
            "ts_item": ts_item, "threshold_rule": "80/20", "select": "NDCG@20", "default_eval": "full"}
    return Split("coldstart", n, ds.n_items, train_ptr, train_items, samples(parts[1]), samples(parts[2]),
                 train_samples=samples(train_users), info=info)


def build_longtail(ds: Dataset, max_len: int = LONGTAIL_MAX_LEN, n_neg: int = N_NEGATIVES,
                   seed: int = SPLIT_SEED, thresholds: tuple[int, int] | None = None) -> Split:
    ptr = ds.user_ptr
    lens = np.diff(ptr)
    users = np.flatnonzero(lens >= 3).astype(np.int32)  # leave-two-out needs >= 3 items
    starts, ends = ptr[users], ptr[users + 1]
    train_end = np.where(lens >= 3, ptr[1:] - 2, ptr[1:])
    train_ptr, train_items = _csr(ds.item, ptr[:-1], train_end)

    name = ds.name.lower()
    thresholds = thresholds or KNOWN_THRESHOLDS.get(name)
    rule = "LLM-ESR" if thresholds else "80/20"
    if thresholds is None:
        thresholds = (eighty_twenty_threshold(lens[users] - 1), eighty_twenty_threshold(ds.item_popularity))
    ts_user, ts_item = thresholds
    neg_rng = np.random.default_rng(seed)
    negatives = {part: _sample_negatives(ds, users, n_neg, neg_rng) for part in ("valid", "test")}

    def samples(part: str, end: np.ndarray) -> Samples:
        targets = ds.item[end].astype(np.int32)
        ex_ptr, ex_idx = _exclusions(ds.item, starts, end, targets)
        tail_user = (end - starts) < ts_user
        groups = {**_popularity_groups(ds, targets, ts_item), "tail_user": tail_user, "head_user": ~tail_user}
        return Samples(users, windows(ds.item, starts, end, max_len), targets, negatives[part], ex_ptr, ex_idx, groups)

    info = {"setting": "longtail", "max_len": max_len, "n_negatives": n_neg, "negative_seed": seed,
            "ts_user": int(ts_user), "ts_item": int(ts_item), "threshold_rule": rule,
            "tail_user": "input length < ts_user", "tail_item": "whole-data popularity < ts_item",
            "n_eval_users": int(len(users)), "n_users_not_evaluated": int(ds.n_users - len(users)),
            "select": "NDCG@10", "default_eval": "sampled"}
    return Split("longtail", ds.n_users, ds.n_items, train_ptr, train_items,
                 samples("valid", ends - 2), samples("test", ends - 1), info=info)


def _sample_negatives(ds: Dataset, users: np.ndarray, n_neg: int, rng: np.random.Generator) -> np.ndarray:
    """n_neg distinct items per user, none of which the user ever interacted with."""
    out = np.empty((len(users), n_neg), np.int32)
    for k, u in enumerate(users):
        seen = np.unique(ds.sequence(u))
        if ds.n_items - len(seen) < n_neg:
            raise DataError(f"{ds.name}: user {ds.user_raw[u]} has only {ds.n_items - len(seen)} unseen items, "
                            f"fewer than the {n_neg} negatives the longtail protocol samples")
        picked = np.zeros(0, np.int64)
        while len(picked) < n_neg:
            cand = rng.integers(0, ds.n_items, size=2 * n_neg + len(seen))
            cand = cand[~np.isin(cand, seen)]
            _, first = np.unique(cand, return_index=True)
            cand = cand[np.sort(first)]                      # distinct, in draw order
            picked = np.concatenate([picked, cand[~np.isin(cand, picked)]])
        out[k] = picked[:n_neg]
    return out


def build_split(ds: Dataset, setting: str) -> Split:
    if setting == "coldstart":
        return build_coldstart(ds)
    if setting == "longtail":
        return build_longtail(ds)
    raise ValueError(f"unknown setting {setting!r}; choose one of {SETTINGS}")


# ---------------------------------------------------------------- storage

def save_split(split: Split, root: Path, fingerprint: str) -> None:
    arrays = {"train_ptr": split.train_ptr, "train_items": split.train_items}
    parts = {"valid": split.valid, "test": split.test, "train_samples": split.train_samples}
    for pname, s in parts.items():
        if s is None:
            continue
        for f in fields(Samples):
            v = getattr(s, f.name)
            if f.name == "groups":
                arrays.update({f"{pname}.group.{g}": a for g, a in v.items()})
            elif v is not None:
                arrays[f"{pname}.{f.name}"] = v
    save_npz(root / f"{split.setting}.npz", **arrays)
    write_json(root / f"{split.setting}.json", {**split.info, "version": SPLIT_VERSION, "n_users": split.n_users,
                                                  "n_items": split.n_items, "dataset_fingerprint": fingerprint})


def load_split(ds: Dataset, setting: str) -> Split:
    """Load data/<name>/<setting>.npz, checking it belongs to this dataset's ids."""
    if setting not in SETTINGS:
        raise ValueError(f"unknown setting {setting!r}; choose one of {SETTINGS}")
    if setting not in settings_of(ds):
        raise _no_coldstart(ds)
    root = ds.root
    path = root / f"{setting}.npz"
    if not path.exists():
        raise DataError(f"{path}: split missing. Run: python data/prepare.py --data {ds.name}")
    info = read_json(root / f"{setting}.json")
    if info.get("version") != SPLIT_VERSION or (info["n_users"], info["n_items"]) != (ds.n_users, ds.n_items):
        raise DataError(f"{path}: made for another version of the dataset ({info.get('n_users')} users, "
                        f"{info.get('n_items')} items); re-run python data/prepare.py --data {ds.name} --force")
    fp = ds.meta.get("fingerprint")
    if fp and info.get("dataset_fingerprint") != fp:
        raise DataError(f"{path}: does not match {root / 'inter.npz'} (fingerprint); "
                        f"re-run python data/prepare.py --data {ds.name} --force")
    z = dict(np.load(path))
    parts = {}
    for pname in ("valid", "test", "train_samples"):
        if f"{pname}.targets" not in z:
            parts[pname] = None
            continue
        kw = {f.name: z.get(f"{pname}.{f.name}") for f in fields(Samples) if f.name != "groups"}
        groups = {k.split(".", 2)[2]: v for k, v in z.items() if k.startswith(f"{pname}.group.")}
        parts[pname] = Samples(**kw, groups=groups)
    return Split(setting, ds.n_users, ds.n_items, z["train_ptr"], z["train_items"], parts["valid"], parts["test"],
                 train_samples=parts["train_samples"], info=info)


def subsample_users(split: Split, fraction: float, seed: int = 0) -> Split:
    """A smaller split for smoke runs: the same items, a random fraction of evaluation rows."""
    rng = np.random.default_rng(seed)

    def cut(s: Samples | None) -> Samples | None:
        if s is None:
            return None
        n = max(1, int(len(s) * fraction))
        return s.subset(np.sort(rng.choice(len(s), n, replace=False)))

    return replace(split, valid=cut(split.valid), test=cut(split.test), train_samples=cut(split.train_samples))


def hold_out_last(split: Split) -> Split:
    """The training interactions as a split of their own: each training user's last training item
    becomes the validation target (input: the items before it, which full ranking masks), the rest
    stays training. Users with one training item keep it. For model selection that must not see
    the backbone's validation targets (the aligner's epoch); ``test`` is left empty."""
    ptr = split.train_ptr
    lens = np.diff(ptr)
    users = np.flatnonzero(lens >= 2).astype(np.int32)
    starts, last = ptr[users], ptr[users + 1] - 1
    train_ptr, train_items = _csr(split.train_items, ptr[:-1], np.where(lens >= 2, ptr[1:] - 1, ptr[1:]))
    targets = split.train_items[last].astype(np.int32)
    ex_ptr, ex_idx = _exclusions(split.train_items, starts, last, targets)
    valid = Samples(users, windows(split.train_items, starts, last, COLDSTART_PREFIX), targets,
                    exclude_ptr=ex_ptr, exclude_idx=ex_idx)
    empty = valid.subset(np.zeros(0, np.int64))
    return replace(split, train_ptr=train_ptr, train_items=train_items, valid=valid, test=empty,
                   train_samples=None, info={**split.info, "held_out": "each training user's last training item"})
