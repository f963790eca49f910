"""Ordered user sequences without timestamps -> Dataset: the standard Amazon Beauty 5-core files.

A folder of
  user_sequence.txt     one line per user: the user id, then item ids (ASINs) in time order
  item_id_to_int.json   ASIN -> integer key
  products_lookup.csv   row,global_product_id,name: the key is global_product_id, name the title
(see ../shared/data/amazon-beauty/README.md for where these come from). Only the order
within a user is known, so each interaction's "timestamp" is its position in the user's
sequence and the dataset is marked ``timestamps: false``: the longtail protocol (leave-one-out)
needs only the order; coldstart, which orders users by their last interaction time, refuses.
"""
from __future__ import annotations

import csv
import html
import json
from pathlib import Path

import numpy as np

from pte.data.atomic import DataError
from pte.data.dataset import Dataset, from_interactions

SEQUENCES, ITEM_KEYS, TITLES = "user_sequence.txt", "item_id_to_int.json", "products_lookup.csv"
FILES = (SEQUENCES, ITEM_KEYS, TITLES)


def is_sequence_folder(folder: Path) -> bool:
    return folder.is_dir() and (folder / SEQUENCES).exists()


def sequence_files(folder: Path) -> list[Path]:
    missing = [f for f in FILES if not (folder / f).exists()]
    if missing:
        raise DataError(f"{folder}: missing {', '.join(missing)}; a sequence folder holds {', '.join(FILES)}")
    return [folder / f for f in FILES]


def load_sequences(name: str, folder: Path, domain: str = "product") -> Dataset:
    """Read the folder; every item must have a title row (empty titles fall back to 'item <id>')."""
    seq_path, keys_path, titles_path = sequence_files(folder)
    users, items, pos = [], [], []
    with open(seq_path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) < 2:
                raise DataError(f"{seq_path}:{lineno}: a user with no items ({line.strip()[:60]!r})")
            users += [parts[0]] * (len(parts) - 1)
            items += parts[1:]
            pos += range(len(parts) - 1)
    if not users:
        raise DataError(f"{seq_path}: no sequences")
    if len(set(zip(users, pos))) != len(users):
        raise DataError(f"{seq_path}: a user id occurs on more than one line; one line per user is expected")
    titles = _titles(keys_path, titles_path, set(items))
    info = {i: ({"title": t} if t else {}) for i, t in titles.items()}
    meta = {"source": f"ordered sequences {folder} ({', '.join(FILES)})", "timestamps": False, "domain": domain,
            "filter": "none (the files are already 5-core)",
            "items_without_text": sum(1 for t in titles.values() if not t)}
    return from_interactions(name, users, items, np.asarray(pos, np.float64), item_info=info, meta=meta)


def _titles(keys_path: Path, titles_path: Path, asins: set[str]) -> dict[str, str]:
    try:
        key_of = json.loads(keys_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{keys_path}: not valid JSON ({e})") from None
    name_of = {}
    with open(titles_path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if not {"global_product_id", "name"} <= set(reader.fieldnames or ()):
            raise DataError(f"{titles_path}:1: expected columns global_product_id,name; got {reader.fieldnames}")
        for row in reader:
            name_of[str(row["global_product_id"])] = html.unescape(row["name"] or "").strip()
    no_key = sorted(asins - key_of.keys())
    if no_key:
        raise DataError(f"{keys_path}: {len(no_key)} items of {SEQUENCES} have no key (e.g. {no_key[:3]})")
    no_title = sorted(a for a in asins if str(key_of[a]) not in name_of)
    if no_title:
        raise DataError(f"{titles_path}: {len(no_title)} items have no global_product_id row "
                        f"(e.g. {no_title[:3]} -> {[key_of[a] for a in no_title[:3]]})")
    return {a: name_of[str(key_of[a])] for a in asins}
