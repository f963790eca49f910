"""The prepared dataset folder: one layout for every source (ml-100k, Amazon, Yelp, ...).

data/<name>/
  meta.json      name, source, counts, text fields, format version
  items.jsonl    one line per internal item id 0..n_items-1: {"id", "raw", <text fields>}
  users.jsonl    one line per internal user id 0..n_users-1: {"id", "raw", <attributes>}
  inter.npz      user, item, rating, timestamp, sorted by (user, time); ties keep file order
  <setting>.npz + <setting>.json   the splits (see pte.splits)

Internal ids are 0-based and dense; raw ids are kept as strings for export.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from pte.data.atomic import DataError
from pte.io import read_json, read_jsonl, save_npz, write_json, write_jsonl
from pte.paths import dataset_dir

FORMAT_VERSION = 1


@dataclass
class Dataset:
    name: str
    user_raw: list[str]
    item_raw: list[str]
    users: list[dict]          # attributes per internal user id
    items: list[dict]          # text fields per internal item id
    user: np.ndarray           # [n_inter] internal user id, sorted by (user, time)
    item: np.ndarray           # [n_inter] internal item id
    rating: np.ndarray
    timestamp: np.ndarray
    meta: dict = field(default_factory=dict)
    root: Path | None = None

    @property
    def n_users(self) -> int:
        return len(self.user_raw)

    @property
    def n_items(self) -> int:
        return len(self.item_raw)

    @cached_property
    def user_ptr(self) -> np.ndarray:
        """CSR pointer: user u's time-ordered items are item[user_ptr[u]:user_ptr[u+1]]."""
        return np.concatenate([[0], np.cumsum(np.bincount(self.user, minlength=self.n_users))])

    def sequence(self, u: int) -> np.ndarray:
        return self.item[self.user_ptr[u]:self.user_ptr[u + 1]]

    @cached_property
    def item_popularity(self) -> np.ndarray:
        """Distinct users per item over the whole data (LLM-ESR's count; equal to interactions without repeats)."""
        pairs = np.unique(self.user.astype(np.int64) * self.n_items + self.item)
        return np.bincount(pairs % self.n_items, minlength=self.n_items)

    def item_text(self, i: int) -> str:
        """A one-line description of item i for prompts and text embeddings."""
        it = self.items[i]
        title = it.get("title") or f"item {self.item_raw[i]}"
        year = it.get("year")
        head = f"{title} ({year})" if year else title
        extra = [str(it[k]) for k in ("genres", "categories", "brand", "features", "description") if it.get(k)]
        return head + (" — " + "; ".join(extra) if extra else "")

    def save(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        write_jsonl(root / "items.jsonl", ({"id": i, "raw": r, **f} for i, (r, f) in enumerate(zip(self.item_raw, self.items))))
        write_jsonl(root / "users.jsonl", ({"id": i, "raw": r, **f} for i, (r, f) in enumerate(zip(self.user_raw, self.users))))
        save_npz(root / "inter.npz", user=self.user, item=self.item, rating=self.rating, timestamp=self.timestamp)
        meta = {**self.meta, "name": self.name, "n_users": self.n_users, "n_items": self.n_items,
                "n_interactions": int(len(self.item)), "format": FORMAT_VERSION}
        write_json(root / "meta.json", meta)  # last: its presence marks a complete folder
        self.meta, self.root = meta, root


def from_interactions(name: str, user_raw: list[str], item_raw: list[str], timestamp: np.ndarray,
                      rating: np.ndarray | None = None, item_info: dict[str, dict] | None = None,
                      user_info: dict[str, dict] | None = None, meta: dict | None = None) -> Dataset:
    """Build a Dataset from per-interaction raw ids in file order.

    Raw ids map to dense internal ids in sorted order (numerically when all are integers);
    each user's interactions are ordered by timestamp, ties keeping file order.
    """
    u_vocab = _sorted_vocab(user_raw)
    i_vocab = _sorted_vocab(item_raw)
    u_index = {r: k for k, r in enumerate(u_vocab)}
    i_index = {r: k for k, r in enumerate(i_vocab)}
    user = np.fromiter((u_index[r] for r in user_raw), dtype=np.int64, count=len(user_raw))
    item = np.fromiter((i_index[r] for r in item_raw), dtype=np.int64, count=len(item_raw))
    timestamp = np.asarray(timestamp, dtype=np.float64)
    rating = np.ones(len(user), np.float32) if rating is None else np.asarray(rating, np.float32)
    order = np.lexsort((timestamp, user))  # stable: equal (user, time) keep file order
    item_info, user_info = item_info or {}, user_info or {}
    return Dataset(name=name, user_raw=u_vocab, item_raw=i_vocab,
                   users=[dict(user_info.get(r, {})) for r in u_vocab],
                   items=[dict(item_info.get(r, {})) for r in i_vocab],
                   user=user[order].astype(np.int32), item=item[order].astype(np.int32),
                   rating=rating[order], timestamp=timestamp[order], meta=dict(meta or {}))


def _sorted_vocab(raw: list[str]) -> list[str]:
    uniq = set(raw)
    if all(r.isdigit() for r in uniq):
        return sorted(uniq, key=int)
    return sorted(uniq)


def load_dataset(data: str) -> Dataset:
    """Load a prepared dataset by name (data/<name>/) or folder path."""
    root = dataset_dir(data)
    if not (root / "meta.json").exists():
        raise DataError(f"{root}: no prepared dataset here (meta.json missing). "
                        f"Run: python data/prepare.py --data {data}")
    meta = read_json(root / "meta.json")
    if meta.get("format") != FORMAT_VERSION:
        raise DataError(f"{root}/meta.json: format {meta.get('format')} != {FORMAT_VERSION}; "
                        f"re-run python data/prepare.py --data {data} --force")
    items = read_jsonl(root / "items.jsonl")
    users = read_jsonl(root / "users.jsonl")
    z = np.load(root / "inter.npz")
    ds = Dataset(name=meta["name"], user_raw=[u.pop("raw") for u in users], item_raw=[i.pop("raw") for i in items],
                 users=users, items=items, user=z["user"], item=z["item"], rating=z["rating"],
                 timestamp=z["timestamp"], meta=meta, root=root)
    for rows, n, what in ((users, meta["n_users"], "users.jsonl"), (items, meta["n_items"], "items.jsonl")):
        if len(rows) != n or any(r.pop("id") != k for k, r in enumerate(rows)):
            raise DataError(f"{root / what}: expected ids 0..{n - 1} in order; the folder is corrupt. "
                            f"Re-run python data/prepare.py --data {data} --force")
    if len(ds.item) != meta["n_interactions"] or (len(ds.item) and (ds.item.max() >= ds.n_items or ds.user.max() >= ds.n_users)):
        raise DataError(f"{root / 'inter.npz'}: does not match meta.json; re-run python data/prepare.py --data {data} --force")
    return ds
