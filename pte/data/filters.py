"""Interaction filters of the two settings, on integer-coded arrays (numpy only, any size).

Each step returns a boolean mask over the interactions read; :func:`apply_filters` chains
the steps of a :class:`FilterSpec` and logs the counts after each, so a prepared
dataset can say how it was obtained.

``llmesr`` is LLM-ESR's data/data_process.py: drop ratings <= 0, keep interactions
whose user and item each have >= 3 interactions counted once on the data as read
(a single pass, not iterated; repeated user-item pairs count as they occur), then
drop users left with < 3. ``5core`` is the common iterated 5-core over distinct
user-item pairs (the earliest of each repeated pair is kept).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FilterSpec:
    name: str
    dedup: bool = False                 # keep only the earliest interaction of each user-item pair
    core: str = "none"                  # none | single (one pass over the counts) | iterative (until stable)
    user_core: int = 0
    item_core: int = 0
    min_user_len: int = 0               # after the core step, drop shorter users
    drop_rating_at_most: float | None = None  # drop interactions rated <= this (LLM-ESR: 0)


FILTERS = {
    "llmesr": FilterSpec("llmesr", dedup=False, core="single", user_core=3, item_core=3, min_user_len=3,
                         drop_rating_at_most=0.0),
    "5core": FilterSpec("5core", dedup=True, core="iterative", user_core=5, item_core=5),
    "none": FilterSpec("none"),
}


def counts(codes: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Interactions per code among the rows kept by mask."""
    return np.bincount(codes[mask], minlength=int(codes.max(initial=-1)) + 1)


def earliest_of_pairs(user: np.ndarray, item: np.ndarray, ts: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Keep, among the kept rows, the earliest row of each (user, item) pair; ties keep file order."""
    rows = np.flatnonzero(mask)
    order = rows[np.lexsort((rows, ts[rows], item[rows], user[rows]))]
    first = np.ones(len(order), bool)
    first[1:] = (user[order][1:] != user[order][:-1]) | (item[order][1:] != item[order][:-1])
    out = np.zeros(len(mask), bool)
    out[order[first]] = True
    return out


def single_pass_core(user: np.ndarray, item: np.ndarray, mask: np.ndarray, user_core: int,
                     item_core: int) -> np.ndarray:
    """LLM-ESR's filter_common: counts taken once, rows of rare users or rare items dropped, not repeated."""
    cu, ci = counts(user, mask), counts(item, mask)
    return mask & (cu[user] >= user_core) & (ci[item] >= item_core)


def iterative_core(user: np.ndarray, item: np.ndarray, mask: np.ndarray, user_core: int,
                   item_core: int) -> np.ndarray:
    """Drop rare users and items until every kept user and item meets its threshold."""
    while True:
        kept = single_pass_core(user, item, mask, user_core, item_core)
        if kept.sum() == mask.sum():
            return kept
        mask = kept


def min_user_length(user: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Drop the rows of users with fewer than n kept rows."""
    return mask & (counts(user, mask)[user] >= n)


def _log(step: str, user: np.ndarray, item: np.ndarray, mask: np.ndarray) -> dict:
    return {"step": step, "interactions": int(mask.sum()), "users": int(len(np.unique(user[mask]))),
            "items": int(len(np.unique(item[mask])))}


def apply_filters(spec: FilterSpec, user: np.ndarray, item: np.ndarray, ts: np.ndarray,
                  rating: np.ndarray) -> tuple[np.ndarray, list[dict]]:
    """The rows ``spec`` keeps, and the counts after each step (first entry: as read)."""
    mask = np.ones(len(user), bool)
    log = [_log("read", user, item, mask)]
    if spec.drop_rating_at_most is not None:
        mask &= rating > spec.drop_rating_at_most
        log.append(_log(f"rating > {spec.drop_rating_at_most:g}", user, item, mask))
    if spec.dedup:
        mask = earliest_of_pairs(user, item, ts, mask)
        log.append(_log("earliest of each repeated user-item pair", user, item, mask))
    if spec.core != "none":
        core = single_pass_core if spec.core == "single" else iterative_core
        mask = core(user, item, mask, spec.user_core, spec.item_core)
        how = "single-pass" if spec.core == "single" else "iterated"
        log.append(_log(f"{how} core: users >= {spec.user_core}, items >= {spec.item_core}", user, item, mask))
    if spec.min_user_len:
        mask = min_user_length(user, mask, spec.min_user_len)
        log.append(_log(f"users >= {spec.min_user_len} interactions", user, item, mask))
    return mask, log


def kept_interactions(log, spec: FilterSpec) -> tuple[list[str], list[str], np.ndarray, np.ndarray, list[dict]]:
    """Filter an :class:`~pte.data.rawio.InteractionLog`: (user raw ids, item raw ids, timestamps,
    ratings) of the kept rows in file order, and the per-step counts."""
    user, item, ts, rating = log.arrays()
    mask, steps = apply_filters(spec, user, item, ts, rating)
    unames, inames = log.names("user"), log.names("item")
    log.release_index()  # the name lists share the strings; the hash tables can go
    return ([unames[c] for c in user[mask]], [inames[c] for c in item[mask]], ts[mask], rating[mask], steps)
