"""Amazon reviews (McAuley lab) 2014, 2018 and 2023 -> Dataset, with item text from the metadata.

Reviews, one JSON object per line, plain or gzip:
  2014 / 2018: reviewerID, asin, overall (1-5), unixReviewTime (seconds)
  2023:        user_id, parent_asin, rating (1-5), timestamp (milliseconds -> seconds here)
Metadata (meta_<Category>), one object per line; 2014 lines are Python dict literals:
  2014: asin, title, description (str), categories (list of category paths), brand
  2018: asin, title, description (list), category (list), brand, feature (list)
  2023: parent_asin, title, description (list), categories (list), features (list), store, details
2023 items are parent_asin (all variants of a product are one item), as its authors recommend.
Items without a metadata line are kept (LLM-ESR keeps them) and counted in meta.json.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pte.data.atomic import DataError
from pte.data.dataset import Dataset, from_interactions
from pte.data.filters import FilterSpec, kept_interactions
from pte.data.rawio import InteractionLog, clean_text, first_record, iter_lines, parse_record, require

TEXT_CHARS = {"title": 300, "description": 1500, "features": 800, "categories": 400, "brand": 100}


@dataclass(frozen=True)
class Schema:
    version: str
    user: str
    item: str
    rating: str
    time: str
    seconds_per_unit: float   # timestamp unit -> seconds
    meta_id: str


SCHEMAS = (Schema("2014/2018", "reviewerID", "asin", "overall", "unixReviewTime", 1.0, "asin"),
           Schema("2023", "user_id", "parent_asin", "rating", "timestamp", 1e-3, "parent_asin"))


def is_amazon_review(rec: dict) -> bool:
    return any(s.user in rec and s.item in rec for s in SCHEMAS)


def review_schema(path: Path) -> Schema:
    """Which Amazon release a review file is, from its first line's fields."""
    rec = first_record(path)
    for s in SCHEMAS:
        if s.user in rec and s.item in rec:
            return s
    raise DataError(f"{path}:1: not an Amazon review line: expected reviewerID+asin (2014/2018) or "
                    f"user_id+parent_asin (2023), got fields {', '.join(sorted(rec))[:200]}")


def read_reviews(path: str | Path, progress: bool = True) -> tuple[InteractionLog, Schema]:
    """Every review as (user, item, time in seconds, rating), streaming; nothing filtered yet."""
    path = Path(path)
    schema = review_schema(path)
    keys = (schema.user, schema.item, schema.rating, schema.time)
    log = InteractionLog()
    for lineno, line in iter_lines(path, f"reviews {path.name}", progress):
        rec = parse_record(line, path, lineno)
        user, item, rating, t = require(rec, keys, path, lineno, f"Amazon {schema.version} review")
        try:
            log.add(str(user), str(item), float(t) * schema.seconds_per_unit, float(rating))
        except (TypeError, ValueError):
            raise DataError(f"{path}:{lineno}: {schema.rating}/{schema.time} must be numbers, "
                            f"got {rating!r}/{t!r}") from None
    if not len(log):
        raise DataError(f"{path}: no reviews")
    return log, schema


def default_meta_path(reviews: Path) -> Path | None:
    """meta_<Category>.json[l][.gz] beside the review file (reviews_Beauty_5.json.gz -> meta_Beauty...)."""
    stem = reviews.name.split(".")[0]
    category = re.sub(r"^reviews_|_5$", "", stem)
    for cand in sorted(reviews.parent.glob(f"meta_{category}.*")):
        if cand.suffix in (".json", ".jsonl", ".gz"):
            return cand
    return None


_ID_RE = {key: re.compile(rb"[\"']" + key.encode() + rb"[\"']\s*:\s*[\"']([^\"']+)[\"']")
          for key in ("asin", "parent_asin")}


def read_meta(path: str | Path, keep: set[str], id_key: str, progress: bool = True) -> dict[str, dict]:
    """Text fields of the items in ``keep``; other lines are skipped before parsing (metadata is huge)."""
    path = Path(path)
    info: dict[str, dict] = {}
    pattern = _ID_RE[id_key]
    for lineno, line in iter_lines(path, f"metadata {path.name}", progress):
        m = pattern.search(line)
        if m and m.group(1).decode("utf-8", "replace") not in keep:
            continue  # cheap pre-check; the id is confirmed on the parsed record below
        rec = parse_record(line, path, lineno, literal=True)
        key = rec.get(id_key)
        if key is None:
            raise DataError(f"{path}:{lineno}: field {id_key!r} missing in a metadata line")
        if key in keep and key not in info:
            info[key] = item_fields(rec)
    return info


def item_fields(rec: dict) -> dict[str, str]:
    """title, categories, brand, features, description as clean one-line strings (empty ones dropped)."""
    cats = rec.get("categories") if rec.get("categories") is not None else rec.get("category")
    details = rec.get("details") if isinstance(rec.get("details"), dict) else {}
    fields = {"title": rec.get("title"),
              "categories": _categories(cats),
              "brand": rec.get("brand") or details.get("Brand") or rec.get("store"),
              "features": "; ".join(_strings(rec.get("features") or rec.get("feature"))),
              "description": " ".join(_strings(rec.get("description")))}
    out = {k: clean_text(v, TEXT_CHARS[k]) for k, v in fields.items() if v}
    return {k: v for k, v in out.items() if v}


def _strings(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [s for v in value for s in _strings(v)]


def _categories(value) -> str:
    # 2014 holds several category paths (lists); keep each name once, in order
    seen: dict[str, None] = {}
    for name in _strings(value):
        seen.setdefault(name.strip(), None)
    return ", ".join(n for n in seen if n)


def load_amazon(name: str, reviews: str | Path, meta: str | Path | None, spec: FilterSpec,
                progress: bool = True) -> Dataset:
    """Read, filter and assemble an Amazon category; ``meta`` None means no item text."""
    reviews = Path(reviews)
    log, schema = read_reviews(reviews, progress)
    users, items, ts, rating, steps = kept_interactions(log, spec)
    if not users:
        raise DataError(f"{reviews}: no interaction survives the {spec.name} filter ({steps[-2:]}); "
                        f"is this the full category file?")
    kept = set(items)
    info = read_meta(meta, kept, schema.meta_id, progress) if meta else {}
    source = {"source": f"Amazon reviews {schema.version}: {reviews.name}" + (f" + {Path(meta).name}" if meta else ""),
              "release": schema.version, "filter": spec.name, "filter_log": steps,
              "items_without_text": len(kept) - len(info)}
    return from_interactions(name, users, items, ts, rating, item_info=info, meta=source)
