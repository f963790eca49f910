"""Importers (and exporters) for the processed files the settings' authors distribute.

LLM-ESR (longtail): ``<name>/handled/inter.txt`` ("user item" per line, 1-based ids, each
user's items in time order), optional ``id_map.json`` / ``item2attributes.json`` (raw ids and
metadata, JSON) and the pickles ``itm_emb_np.pkl`` [n_items, 1536], ``pca64_itm_emb_np.pkl``,
``usr_emb_np.pkl`` [n_users, 1536] (users in file order) and ``sim_user_100.pkl``.
The files carry no timestamps: a line's position stands in for its time.

AlphaFuse/DreamRec (coldstart): pandas pickles ``train_data.df``, ``val_data.df``,
``test_data.df`` (columns seq, len_seq, next) and ``data_statis.df`` (seq_size, item_num),
plus language embeddings ``<model>_emb.pickle`` [item_num, d]. They hold samples, not users:
rows are chained back into sequences (an all-pad prefix starts one; each later row's prefix
is the last seq_size items of the chain so far). A row that does not continue its chain
starts a new pseudo-user whose history is its own prefix (counted as ``chain_breaks``). The
chains become the dataset's users (raw ids ``train-0``, ``valid-0``, ...); the split's rows are
the files' rows, unchanged.

Pickle can run arbitrary code when loaded, so every pickle read here needs ``trust=True``
(``--trust_pickle true`` on the command line); id and padding conversions are in pte.data.idmap.
"""
from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pte.data.atomic import DataError
from pte.data.dataset import Dataset
from pte.data.idmap import ALPHAFUSE, LLMESR, alphafuse_len_seq, embedding_rows
from pte.data.rawio import iter_lines
from pte.splits import (Samples, Split, _popularity_groups, build_longtail, build_split,
                        eighty_twenty_threshold)

ALPHAFUSE_FILES = {"train": "train_data.df", "valid": "val_data.df", "test": "test_data.df"}
ALPHAFUSE_STATS = "data_statis.df"
LLMESR_PICKLES = {"itm_emb_np.pkl": ("item_text.npy", "item"), "pca64_itm_emb_np.pkl": ("item_text_pca64.npy", "item"),
                  "usr_emb_np.pkl": ("user_text.npy", "user")}
LLMESR_SIM_USERS = "sim_user_100.pkl"


@dataclass
class Imported:
    """What an importer produced: the dataset, splits taken from the files, vectors to store."""
    dataset: Dataset
    splits: dict[str, Split] = field(default_factory=dict)
    embeddings: list[tuple[str, np.ndarray, str, str]] = field(default_factory=list)  # (file, vectors, kind, source)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)   # other files: name -> array (saved as .npz)
    notes: list[str] = field(default_factory=list)
    thresholds: tuple[int, int] | None = None   # longtail (ts_user, ts_item) of the paper's dataset, if known

    def split(self, setting: str) -> Split:
        """The split taken from the files, else built by the protocol (with the paper's thresholds)."""
        if setting in self.splits:
            return self.splits[setting]
        if setting == "longtail" and self.thresholds:
            return build_longtail(self.dataset, thresholds=self.thresholds)
        return build_split(self.dataset, setting)


def load_pickle(path: Path, trust: bool):
    """Unpickle ``path`` only when the caller vouches for it: pickle runs code while loading."""
    if not trust:
        raise DataError(f"{path}: refusing to load a pickle without --trust_pickle true. Loading a pickle can "
                        f"execute arbitrary code; pass the flag only for files from a source you trust "
                        f"(e.g. the authors' own release)")
    try:
        if path.suffix == ".df":
            import pandas as pd  # lazily: only the AlphaFuse importer needs pandas
            return pd.read_pickle(path)
        with open(path, "rb") as f:
            return pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError, ImportError, AttributeError) as e:
        raise DataError(f"{path}: cannot unpickle ({type(e).__name__}: {e}); the file is damaged or was "
                        f"written by an incompatible library version") from None


# ---------------------------------------------------------------- LLM-ESR

def llmesr_folder(raw: Path) -> Path:
    """The folder holding inter.txt: the path itself, its handled/ subfolder, or the file's folder."""
    if raw.is_file():
        return raw.parent
    for cand in (raw, raw / "handled"):
        if (cand / "inter.txt").exists():
            return cand
    raise DataError(f"{raw}: no inter.txt here or in handled/; point --raw at LLM-ESR's <dataset>/handled/inter.txt")


def read_llmesr_inter(path: Path, progress: bool = True) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(user ids in order of first appearance, internal user per line, internal item per line)."""
    users: dict[str, int] = {}
    u_list, i_list = [], []
    for lineno, line in iter_lines(path, f"LLM-ESR {path.name}", progress):
        parts = line.split()
        if len(parts) < 2 or not all(p.isdigit() for p in parts):
            raise DataError(f"{path}:{lineno}: expected 'user item' (positive integers), got {line[:80]!r}")
        u = users.setdefault(parts[0].decode(), len(users))
        for p in parts[1:]:  # inter_seq.txt lists a user's items on one line; inter.txt one per line
            if int(p) == 0:
                raise DataError(f"{path}:{lineno}: item id 0 is LLM-ESR's padding; inter.txt ids start at 1")
            u_list.append(u)
            i_list.append(int(p))
    if not u_list:
        raise DataError(f"{path}: no interactions")
    items = np.asarray(i_list, np.int64)
    return list(users), np.asarray(u_list, np.int64), LLMESR.to_internal(items, int(items.max()), str(path))


def _rows_by_user(user: np.ndarray) -> np.ndarray:
    """Row order grouping users (first-appearance order), keeping file order inside a user."""
    return np.argsort(user, kind="stable")


def read_llmesr(raw: str | Path, name: str, trust: bool = False, progress: bool = True) -> Imported:
    """LLM-ESR's processed dataset; its pickles are imported only with trust=True (else skipped, with a note)."""
    folder = llmesr_folder(Path(raw))
    inter = folder / "inter.txt" if not Path(raw).is_file() else Path(raw)
    user_ids, user, item = read_llmesr_inter(inter, progress)
    n_items = int(item.max()) + 1
    order = _rows_by_user(user)
    item_raw = [str(k) for k in LLMESR.to_external(np.arange(n_items))]
    items = _llmesr_item_text(folder, item_raw)
    ds = Dataset(name=name, user_raw=user_ids, item_raw=item_raw, users=[{} for _ in user_ids], items=items,
                 user=user[order].astype(np.int32), item=item[order].astype(np.int32),
                 rating=np.ones(len(user), np.float32), timestamp=order.astype(np.float64),
                 meta={"source": f"LLM-ESR processed files: {inter}", "timestamps": "line number in inter.txt "
                       "(the file has no times; its order per user is the time order)", "ids": "LLM-ESR id - 1"})
    imp = Imported(ds)
    _llmesr_pickles(folder, imp, trust)
    return imp


def _llmesr_item_text(folder: Path, item_raw: list[str]) -> list[dict]:
    """Item text from id_map.json + item2attributes.json when the folder has them (JSON, safe to read)."""
    items = [{} for _ in item_raw]
    id_map, attrs = folder / "id_map.json", folder / "item2attributes.json"
    if not id_map.exists():
        return items
    id2item = json.loads(id_map.read_text(encoding="utf-8")).get("id2item", {})
    meta = json.loads(attrs.read_text(encoding="utf-8")) if attrs.exists() else {}
    from pte.data import amazon, yelp
    for k, rid in enumerate(item_raw):
        source_id = id2item.get(rid)
        if source_id is None:
            continue
        rec = meta.get(source_id)
        if not isinstance(rec, dict):
            items[k] = {"source_id": source_id}
            continue
        fields = yelp.item_fields(rec) if "business_id" in rec else amazon.item_fields(rec)
        items[k] = {"source_id": source_id, **fields}
    return items


def _llmesr_pickles(folder: Path, imp: Imported, trust: bool) -> None:
    present = [p for p in (*LLMESR_PICKLES, LLMESR_SIM_USERS) if (folder / p).exists()]
    if present and not trust:
        imp.notes.append(f"skipped {', '.join(present)}: pickles load only with --trust_pickle true "
                         f"(loading a pickle can run code)")
        return
    ds = imp.dataset
    for fname in present:
        vec = load_pickle(folder / fname, trust)
        where = str(folder / fname)
        if fname == LLMESR_SIM_USERS:
            imp.arrays["llmesr_sim_users"] = _sim_users(vec, ds.n_users, where)
            continue
        out, kind = LLMESR_PICKLES[fname]
        if kind == "item":
            if len(vec) > ds.n_items:
                imp.notes.append(f"{fname}: {len(vec) - ds.n_items} trailing rows beyond item id {ds.n_items} "
                                 f"(no interaction in inter.txt) left out")
            vec = embedding_rows(vec, ds.n_items, LLMESR, where, allow_extra=True)
        else:
            vec = np.asarray(vec, np.float32)
            if vec.ndim != 2 or len(vec) != ds.n_users:
                raise DataError(f"{where}: shape {vec.shape}, expected one row per user of inter.txt "
                                f"({ds.n_users}, in order of first appearance)")
        imp.embeddings.append((out, vec, kind, where))


def _sim_users(value, n_users: int, where: str) -> np.ndarray:
    """sim_user_100.pkl: row u lists similar users as 0-based positions in inter.txt's user order."""
    arr = np.asarray(value, dtype=np.int64)
    if arr.ndim != 2 or len(arr) != n_users or arr.min(initial=0) < 0 or arr.max(initial=0) >= n_users:
        raise DataError(f"{where}: expected [{n_users}, k] user positions 0..{n_users - 1}, got shape {arr.shape}")
    return arr.astype(np.int32)


def write_llmesr_inter(ds: Dataset, path: str | Path) -> None:
    """Write ``ds`` as LLM-ESR's inter.txt (users as their raw ids when numeric, else 1..n)."""
    numeric = all(r.isdigit() for r in ds.user_raw)
    with open(path, "w", encoding="utf-8") as f:
        for u in range(ds.n_users):
            label = ds.user_raw[u] if numeric else str(u + 1)
            f.writelines(f"{label} {i}\n" for i in LLMESR.to_external(ds.sequence(u)))


# ---------------------------------------------------------------- AlphaFuse / DreamRec

def alphafuse_folder(raw: Path) -> Path:
    folder = raw.parent if raw.is_file() else raw
    missing = [f for f in (*ALPHAFUSE_FILES.values(), ALPHAFUSE_STATS) if not (folder / f).exists()]
    if missing:
        raise DataError(f"{folder}: {', '.join(missing)} missing; an AlphaFuse/DreamRec folder holds "
                        f"{', '.join(ALPHAFUSE_FILES.values())} and {ALPHAFUSE_STATS}")
    return folder


def read_alphafuse_stats(path: Path, trust: bool) -> tuple[int, int]:
    """(seq_size, item_num) from data_statis.df."""
    df = load_pickle(path, trust)
    try:
        return int(df["seq_size"].iloc[0]), int(df["item_num"].iloc[0])
    except (KeyError, TypeError, IndexError, AttributeError):
        raise DataError(f"{path}: expected a DataFrame with seq_size and item_num") from None


def read_alphafuse_samples(path: Path, item_num: int, seq_size: int, trust: bool) -> tuple[np.ndarray, np.ndarray]:
    """(inputs [N, seq_size] in our layout, targets [N]) of one samples file, checked row by row."""
    df = load_pickle(path, trust)
    missing = [c for c in ("seq", "len_seq", "next") if c not in getattr(df, "columns", ())]
    if missing:
        raise DataError(f"{path}: columns {missing} missing; AlphaFuse/DreamRec samples have seq, len_seq, next")
    seqs = list(df["seq"])
    bad = [r for r, s in enumerate(seqs) if len(s) != seq_size]
    if bad:
        raise DataError(f"{path}: row {bad[0]} has {len(seqs[bad[0]])} ids in seq; data_statis.df says "
                        f"seq_size={seq_size}")
    rows = np.asarray(seqs, dtype=np.int64).reshape(len(seqs), seq_size)
    inputs, lengths = ALPHAFUSE.rows_to_internal(rows, item_num, str(path))
    wrong = np.flatnonzero(alphafuse_len_seq(lengths) != df["len_seq"].to_numpy())
    if len(wrong):
        r = int(wrong[0])
        raise DataError(f"{path}: row {r}: len_seq={df['len_seq'].iloc[r]} but seq holds {lengths[r]} items "
                        f"(expected max(1, items))")
    targets = ALPHAFUSE.to_internal(df["next"].to_numpy(), item_num, f"{path} (next)")
    return inputs, targets.astype(np.int32)


def chain_sequences(inputs: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, list[list[int]], int]:
    """Rebuild user sequences from samples: (sequence index of each row, sequences, chain breaks)."""
    width = inputs.shape[1]
    row_seq = np.empty(len(targets), np.int64)
    seqs: list[list[int]] = []
    breaks = 0
    for r in range(len(targets)):
        prefix = [int(x) for x in inputs[r] if x >= 0]
        cur = seqs[-1] if seqs else None
        if prefix and cur is not None and len(prefix) == min(len(cur), width) and cur[-len(prefix):] == prefix:
            cur.append(int(targets[r]))
        else:
            breaks += bool(prefix)
            seqs.append(prefix + [int(targets[r])])
        row_seq[r] = len(seqs) - 1
    return row_seq, seqs, breaks


def read_alphafuse(raw: str | Path, name: str, trust: bool = False, progress: bool = True) -> Imported:
    """AlphaFuse/DreamRec's processed dataset and its coldstart split, rows as distributed."""
    folder = alphafuse_folder(Path(raw))
    seq_size, item_num = read_alphafuse_stats(folder / ALPHAFUSE_STATS, trust)
    parts, seqs, owner, breaks = {}, [], {}, {}
    for part, fname in ALPHAFUSE_FILES.items():
        inputs, targets = read_alphafuse_samples(folder / fname, item_num, seq_size, trust)
        row_seq, part_seqs, breaks[part] = chain_sequences(inputs, targets)
        owner[part] = (len(seqs), len(part_seqs))
        parts[part] = (inputs, targets, row_seq + len(seqs))
        seqs += part_seqs
    ds = _alphafuse_dataset(name, folder, seqs, owner, item_num, breaks)
    imp = Imported(ds, splits={"coldstart": _alphafuse_split(ds, parts, owner, seq_size)})
    imp.notes += [f"{part}: {breaks[part]} rows did not continue their chain (pseudo-users from their prefix)"
                  for part in breaks if breaks[part]]
    _alphafuse_embeddings(folder, imp, trust)
    return imp


def _alphafuse_dataset(name: str, folder: Path, seqs: list[list[int]], owner: dict, item_num: int,
                       breaks: dict) -> Dataset:
    lens = np.array([len(s) for s in seqs])
    user_raw = [f"{part}-{k}" for part, (_, n) in owner.items() for k in range(n)]
    n_inter = int(lens.sum())
    return Dataset(name=name, user_raw=user_raw, item_raw=[str(i) for i in range(item_num)],
                   users=[{} for _ in user_raw], items=[{} for _ in range(item_num)],
                   user=np.repeat(np.arange(len(seqs)), lens).astype(np.int32),
                   item=np.fromiter((i for s in seqs for i in s), np.int32, count=n_inter),
                   rating=np.ones(n_inter, np.float32), timestamp=np.arange(n_inter, dtype=np.float64),
                   meta={"source": f"AlphaFuse/DreamRec processed files: {folder}",
                         "timestamps": "position in the files (they have no times): train users, then valid, then test",
                         "users": "sequences rebuilt from the samples' chains (pseudo-users)", "chain_breaks": breaks,
                         "ids": "AlphaFuse id = internal id"})


def _alphafuse_split(ds: Dataset, parts: dict, owner: dict, seq_size: int) -> Split:
    ts_item = eighty_twenty_threshold(ds.item_popularity)
    samples = {}
    for part, (inputs, targets, users) in parts.items():
        groups = _popularity_groups(ds, targets, ts_item)
        samples[part] = Samples(users.astype(np.int32), inputs, targets, groups=groups)
    n_train = owner["train"][1]
    ptr = ds.user_ptr
    train_ptr = np.concatenate([ptr[:n_train + 1], np.full(ds.n_users - n_train, ptr[n_train])]).astype(np.int64)
    counts = {p: owner[p][1] for p in ALPHAFUSE_FILES}
    info = {"setting": "coldstart", "prefix": seq_size, "ratios": [round(counts[p] / ds.n_users, 4) for p in counts],
            "user_order": "as distributed by the AlphaFuse/DreamRec authors",
            "n_train_users": counts["train"], "n_valid_users": counts["valid"], "n_test_users": counts["test"],
            "ts_item": ts_item, "threshold_rule": "80/20", "select": "NDCG@20", "default_eval": "full",
            "imported": "rows of train_data.df / val_data.df / test_data.df, unchanged"}
    return Split("coldstart", ds.n_users, ds.n_items, train_ptr, ds.item[:ptr[n_train]].astype(np.int32),
                 samples["valid"], samples["test"], train_samples=samples["train"], info=info)


def _alphafuse_embeddings(folder: Path, imp: Imported, trust: bool) -> None:
    """<model>_emb.pickle -> item_text.npy (3small preferred, as AlphaFuse's default) or item_text_<model>.npy."""
    files = sorted(folder.glob("*_emb.pickle"))
    primary = next((f for f in files if f.name == "3small_emb.pickle"), files[0] if files else None)
    for f in files:
        vec = embedding_rows(load_pickle(f, trust), imp.dataset.n_items, ALPHAFUSE, str(f))
        out = "item_text.npy" if f == primary else f"item_text_{f.name[:-len('_emb.pickle')]}.npy"
        imp.embeddings.append((out, vec, "item", str(f)))


def write_alphafuse(split: Split, folder: str | Path) -> None:
    """Write a coldstart split as AlphaFuse/DreamRec's four pickles (for running their code on our split)."""
    import pandas as pd
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    width = split.valid.inputs.shape[1]
    for part, fname in ALPHAFUSE_FILES.items():
        s = {"train": split.train_samples, "valid": split.valid, "test": split.test}[part]
        rows = ALPHAFUSE.rows_to_external(s.inputs, split.n_items)
        lengths = (s.inputs >= 0).sum(1)
        pd.DataFrame({"seq": [list(map(int, r)) for r in rows], "len_seq": alphafuse_len_seq(lengths).astype(np.int64),
                      "next": ALPHAFUSE.to_external(s.targets)}).to_pickle(folder / fname)
    pd.DataFrame({"seq_size": [width], "item_num": [split.n_items]}).to_pickle(folder / ALPHAFUSE_STATS)


def save_imported(imp: Imported, root: Path, ds: Dataset) -> list[str]:
    """Store the imported vectors beside the prepared dataset; return lines saying what was written."""
    from pte.embeddings import save_embeddings
    from pte.io import save_npz
    lines = []
    for fname, vec, kind, source in imp.embeddings:
        ids = ds.item_raw if kind == "item" else ds.user_raw
        try:
            save_embeddings(root / fname, vec, ids, kind=kind, data=ds.name, encoder=f"imported: {Path(source).name}",
                            imported_from=source, fingerprint=ds.meta["fingerprint"])
        except ValueError as e:
            raise DataError(f"{source}: {e}") from None
        lines.append(f"  {fname}: {vec.shape[0]} x {vec.shape[1]} imported from {source}")
    for key, arr in imp.arrays.items():
        save_npz(root / f"{key}.npz", **{key: arr})
        lines.append(f"  {key}.npz: {arr.shape} imported")
    return lines + [f"  note: {n}" for n in imp.notes]
