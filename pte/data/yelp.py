"""Yelp Open Dataset -> Dataset: reviews are interactions, businesses are items.

yelp_academic_dataset_review.json: review_id, user_id, business_id, stars, date
("YYYY-MM-DD HH:MM:SS"; older dumps "YYYY-MM-DD"), one JSON object per line.
yelp_academic_dataset_business.json: business_id, name, city, state, categories
(one comma-separated string; a list in some dumps).

The date window is LLM-ESR's, compared as strings exactly as its data_process.py does:
2000-01-01 00:00:00 <= date <= 2019-12-31 00:00:00, so reviews later on 2019-12-31 fall out.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from pte.data.atomic import DataError
from pte.data.dataset import Dataset, from_interactions
from pte.data.filters import FilterSpec, kept_interactions
from pte.data.rawio import InteractionLog, clean_text, iter_lines, iter_records, parse_record, require

REVIEWS = "yelp_academic_dataset_review.json"
BUSINESSES = "yelp_academic_dataset_business.json"
DATE_MIN, DATE_MAX = "2000-01-01 00:00:00", "2019-12-31 00:00:00"


def is_yelp_review(rec: dict) -> bool:
    return "business_id" in rec and "user_id" in rec and "stars" in rec


def to_seconds(date: str, path: Path, lineno: int) -> float:
    """UTC seconds of a Yelp date string (Yelp gives local times without a zone; only order matters)."""
    try:
        return datetime.fromisoformat(date).replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        raise DataError(f"{path}:{lineno}: date {date!r} is not 'YYYY-MM-DD HH:MM:SS'") from None


def read_reviews(path: str | Path, date_min: str = DATE_MIN, date_max: str = DATE_MAX,
                 progress: bool = True) -> tuple[InteractionLog, int]:
    """Reviews dated within [date_min, date_max] as (user, business, seconds, stars); and how many fell outside."""
    path = Path(path)
    log, outside = InteractionLog(), 0
    for lineno, line in iter_lines(path, f"reviews {path.name}", progress):
        rec = parse_record(line, path, lineno)
        user, item, stars, date = require(rec, ("user_id", "business_id", "stars", "date"), path, lineno,
                                          "Yelp review")
        date = date if len(date) > 10 else date + " 00:00:00"
        if not date_min <= date <= date_max:
            outside += 1
            continue
        try:
            log.add(user, item, to_seconds(date, path, lineno), float(stars))
        except (TypeError, ValueError):
            raise DataError(f"{path}:{lineno}: stars must be a number, got {stars!r}") from None
    if not len(log):
        raise DataError(f"{path}: no review dated {date_min} .. {date_max}")
    return log, outside


def item_fields(rec: dict) -> dict[str, str]:
    """title = business name; categories; description = where it is."""
    cats = rec.get("categories")
    cats = ", ".join(cats) if isinstance(cats, list) else cats
    where = ", ".join(str(rec[k]) for k in ("city", "state") if rec.get(k))
    out = {"title": clean_text(rec.get("name") or "", 300), "categories": clean_text(cats or "", 400),
           "description": where}
    return {k: v for k, v in out.items() if v}


def read_businesses(path: str | Path, keep: set[str], progress: bool = True) -> dict[str, dict]:
    info = {}
    for lineno, rec in iter_records(path, f"businesses {Path(path).name}", progress):
        (bid,) = require(rec, ("business_id",), Path(path), lineno, "Yelp business")
        if bid in keep:
            info[bid] = item_fields(rec)
    return info


def default_business_path(reviews: Path) -> Path | None:
    cand = reviews.parent / BUSINESSES
    return cand if cand.exists() else None


def load_yelp(name: str, reviews: str | Path, businesses: str | Path | None, spec: FilterSpec,
              progress: bool = True) -> Dataset:
    """Read, date-window, filter and assemble Yelp; ``businesses`` None means no item text."""
    reviews = Path(reviews)
    log, outside = read_reviews(reviews, progress=progress)
    users, items, ts, rating, steps = kept_interactions(log, spec)
    if not users:
        raise DataError(f"{reviews}: no interaction survives the {spec.name} filter")
    steps[0]["step"] = f"read, dated {DATE_MIN} .. {DATE_MAX} ({outside:,} reviews outside dropped)"
    kept = set(items)
    info = read_businesses(businesses, kept, progress) if businesses else {}
    meta = {"source": f"Yelp Open Dataset: {reviews.name}" + (f" + {Path(businesses).name}" if businesses else ""),
            "filter": spec.name, "filter_log": steps, "items_without_text": len(kept) - len(info)}
    return from_interactions(name, users, items, ts, rating, item_info=info, meta=meta)
