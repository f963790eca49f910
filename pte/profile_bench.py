"""The profile benchmark: how well a set of profiles (texts -> vectors) predicts a user's next item,
with no recommender backbone in between.

Every change to the LLM Profile stage is judged on this ladder, so it is built to be cheap
(one matrix product per side, seconds on a CPU) and unable to see test data: it scores only
the longtail split's *validation* rows (input = the user's training items, target = the
second-to-last item), by full ranking over all items with the training items masked, through
``pte.evaluate.evaluate`` — the evaluator every backbone uses. ``split.test`` is never read.

Sides:
  popularity  rank by training interaction count (the floor every profile must clear)
  user        cosine(user vector, item vector): the user profile as a query
  item        cosine(mean of the user's last k training items' vectors, item vector): item
              profiles as keys, with no user profile at all
Baselines without an LLM: the user's attributes + last training items as one text (user side),
the raw item text embedding data/<name>/item_text.npy (item side).

A row that covers only some users (e.g. teacher profiles) is compared with the no-LLM baseline
on exactly the same users (``ladder_row`` refuses otherwise).
"""
from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from pte.data import Dataset
from pte.evaluate import ScoreFn, evaluate
from pte.splits import PAD, Samples, Split

SIDES = ("user", "item", "popularity")
ITEM_K = 10            # training items averaged into an item-side query
HISTORY_ITEMS = 10     # training items shown in the no-LLM user text
SHOWN = ("NDCG@10", "HR@10", "NDCG@20")
BOOTSTRAPS = 2000      # resamples of the paired interval of a step between two rungs
SENTENCE_WEIGHTS = (0.0, 0.1, 0.2, 0.35, 0.5, 1.0)   # w in unit(facts + w * sentence): sentence_sweep


# ----------------------------------------------------------------- rows and evaluation

def valid_rows(split: Split, users: np.ndarray | list[int] | None = None) -> Samples:
    """The validation rows to score (all, or those of ``users``), without stored negatives:
    the benchmark ranks over all items only."""
    if split.setting != "longtail":
        raise ValueError(f"the profile benchmark runs on the longtail split, got {split.setting!r}")
    rows = replace(split.valid, negatives=None)
    if users is None:
        return rows
    keep = np.isin(rows.users, np.asarray(list(users), dtype=np.int64))
    return rows.subset(np.flatnonzero(keep))


def users_key(users: np.ndarray) -> str:
    """A short fingerprint of a set of user ids: two results compare only if theirs match."""
    u = np.unique(np.asarray(users, dtype=np.int64))
    return hashlib.sha1(u.tobytes()).hexdigest()[:12]


def run(score: ScoreFn, split: Split, users: np.ndarray | list[int] | None = None) -> dict:
    """Full-ranking validation metrics of ``score`` ({"NDCG@10": .., "n": rows, ...}), plus
    ``n_valid`` (all validation rows), ``users`` (fingerprint of the rows' users) and ``seconds``."""
    rows = valid_rows(split, users)
    if len(rows) == 0:
        raise ValueError("no validation rows for the given users")
    res = evaluate(score, rows)
    out = dict(res["full"])
    out.update(n_valid=len(split.valid), users=users_key(rows.users), seconds=res["seconds"])
    return out


def row_ndcg10(score: ScoreFn, split: Split, users: np.ndarray | list[int] | None = None) -> np.ndarray:
    """Per validation row (of ``users``, in ``valid_rows`` order), the full-ranking NDCG@10 of ``score``."""
    from pte.evaluate import ranks
    from pte.metrics import ndcg
    rows = valid_rows(split, users)
    with torch.no_grad():
        return ndcg(ranks(score(rows), rows)["full"], 10).numpy()


def paired_change(before: np.ndarray, after: np.ndarray, n_boot: int = BOOTSTRAPS, seed: int = 0) -> dict:
    """Relative change of mean NDCG@10 from ``before`` to ``after`` (per-row values on the same rows),
    with a 95% percentile bootstrap interval over rows, resampled in pairs: the users whose target
    no rung finds add nothing but width, and the two rungs' shared luck cancels."""
    before, after = np.asarray(before, np.float64), np.asarray(after, np.float64)
    if before.shape != after.shape or before.ndim != 1 or not len(before):
        raise ValueError(f"paired values must be two equal, non-empty vectors, got {before.shape} and {after.shape}")
    idx = np.random.default_rng(seed).integers(0, len(before), size=(n_boot, len(before)))
    b, a = before[idx].mean(1), after[idx].mean(1)
    rel = (a - b) / np.where(b > 0, b, np.nan)
    lo, hi = np.nanpercentile(rel, [2.5, 97.5])
    m = before.mean()
    return {"rel": float((after.mean() - m) / m) if m > 0 else float("nan"), "ci": [float(lo), float(hi)],
            "n": int(len(before)), "bootstraps": n_boot}


def mixed(facts: np.ndarray, sentence: np.ndarray, w: float) -> np.ndarray:
    """Unit rows of facts + w * sentence: a profile's facts embedding with its model-written sentence's
    embedding added at weight ``w`` (0: the facts alone). A row with neither stays zero."""
    return _unit(np.asarray(facts, np.float32) + np.float32(w) * np.asarray(sentence, np.float32)).numpy()


def sentence_sweep(split: Split, facts: np.ndarray, sentence: np.ndarray, score_of: Callable[[np.ndarray], ScoreFn],
                   users: np.ndarray | list[int] | None = None,
                   weights: tuple[float, ...] = SENTENCE_WEIGHTS) -> dict:
    """Validation NDCG@10 of ``mixed(facts, sentence, w)`` for each weight (``score_of`` turns an
    embedding into a ScoreFn), and the best w > 0 against w = 0, paired over the same rows. The best
    is chosen on those rows, so its interval is optimistic: a sentence that adds nothing still
    shows a small gain; one whose interval does not clear 0 adds nothing measurable."""
    if not weights or weights[0] != 0:
        raise ValueError(f"the sweep's first weight must be 0 (the facts alone), got {weights}")
    per_w = [row_ndcg10(score_of(mixed(facts, sentence, w)), split, users) for w in weights]
    best = 1 + int(np.argmax([v.mean() for v in per_w[1:]]))
    return {"weights": list(weights), "ndcg10": [float(v.mean()) for v in per_w],
            "best": {"w": weights[best], **paired_change(per_w[0], per_w[best])}}


def format_sweeps(rows: list[dict]) -> list[str]:
    """One line per rung that carries a ``sweep`` (sentence_sweep) of its sentence's weight."""
    out = []
    for r in rows:
        sw = r.get("sweep")
        if sw:
            b = sw["best"]
            lo, hi = b["ci"]
            verdict = "up" if lo > 0 else "down" if hi < 0 else "within noise"
            values = " | ".join(f"{w:g}: {v:.4f}" for w, v in zip(sw["weights"], sw["ndcg10"]))
            out.append(f"sweep {r['name']} ({r['side']} side, {b['n']} users): NDCG@10 of unit(facts + w x sentence), "
                       f"w {values}; best w {b['w']:g} against the facts alone {b['rel']:+.1%}, "
                       f"95% CI {lo:+.1%} to {hi:+.1%} ({verdict}; chosen on these rows)")
    return out


def _unit(x: np.ndarray) -> torch.Tensor:
    """L2-normalised float32 rows; an all-zero row stays zero (it scores 0 against everything)."""
    return F.normalize(torch.as_tensor(np.asarray(x, dtype=np.float32)), dim=-1)


# ----------------------------------------------------------------- the three sides

def train_popularity(split: Split, n_items: int) -> np.ndarray:
    """Training interactions per item (validation/test targets not counted)."""
    return np.bincount(split.train_items, minlength=n_items).astype(np.float32)


def popularity_scores(split: Split, n_items: int) -> ScoreFn:
    """Score function ranking every row's items by training popularity."""
    pop = torch.as_tensor(train_popularity(split, n_items))

    def score(rows: Samples) -> torch.Tensor:
        return pop.expand(len(rows), -1)

    return score


def popularity(split: Split, users: np.ndarray | list[int] | None = None) -> dict:
    """The popularity rung: metrics of ``popularity_scores``."""
    return run(popularity_scores(split, split.n_items), split, users)


def _check(emb: np.ndarray, n: int, what: str) -> None:
    if emb.ndim != 2 or emb.shape[0] != n:
        raise ValueError(f"{what}: expected [{n}, d] vectors, got {tuple(emb.shape)}")
    if not np.isfinite(emb).all():
        raise ValueError(f"{what}: non-finite values")


def user_scores(user_emb: np.ndarray, item_emb: np.ndarray) -> ScoreFn:
    """score(u, i) = cosine(user_emb[u], item_emb[i]); a user with a zero row ranks the target last."""
    if user_emb.shape[1] != item_emb.shape[1]:
        raise ValueError(f"user vectors are {user_emb.shape[1]}-d, item vectors {item_emb.shape[1]}-d")
    users, items = _unit(user_emb), _unit(item_emb)

    def score(rows: Samples) -> torch.Tensor:
        return users[torch.as_tensor(rows.users, dtype=torch.long)] @ items.T

    return score


def user_side(split: Split, user_emb: np.ndarray, item_emb: np.ndarray,
              users: np.ndarray | list[int] | None = None) -> dict:
    """User profiles as queries: metrics of cosine(user, item) on the validation rows (of ``users``)."""
    user_emb, item_emb = np.asarray(user_emb), np.asarray(item_emb)
    _check(user_emb, split.n_users, "user_emb")
    _check(item_emb, split.n_items, "item_emb")
    return run(user_scores(user_emb, item_emb), split, users)


def history_queries(inputs: np.ndarray, item_emb: torch.Tensor, k: int) -> torch.Tensor:
    """[B, d] unit mean of the unit vectors of each row's last ``k`` real items (PAD ignored);
    a row with no items gets a zero query."""
    idx = torch.as_tensor(np.asarray(inputs)[:, -k:], dtype=torch.long)
    real = (idx != PAD).float().unsqueeze(-1)
    summed = (item_emb[idx.clamp(min=0)] * real).sum(1)
    return F.normalize(summed / real.sum(1).clamp(min=1), dim=-1)


def item_scores(item_emb: np.ndarray, k: int = ITEM_K) -> ScoreFn:
    """score(row, i) = cosine(mean of the row's last k input items' unit vectors, item_emb[i])."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    items = _unit(item_emb)

    def score(rows: Samples) -> torch.Tensor:
        return history_queries(rows.inputs, items, k) @ items.T

    return score


def item_side(split: Split, item_emb: np.ndarray, k: int = ITEM_K,
              users: np.ndarray | list[int] | None = None) -> dict:
    """Item vectors as keys and, averaged over the last k training items, as the query."""
    item_emb = np.asarray(item_emb)
    _check(item_emb, split.n_items, "item_emb")
    return run(item_scores(item_emb, k), split, users)


# ----------------------------------------------------------------- texts and vectors

def history_text(ds: Dataset, u: int, items: np.ndarray) -> str:
    """One user's no-LLM text: attributes, then items most recent first (an encoder that
    truncates long inputs then drops the oldest)."""
    from pte.llm.data import user_desc
    lines = "; ".join(ds.item_text(int(i)) for i in items[::-1])
    return f"{user_desc(ds, u)}. Recently chose, latest first: {lines}"


def history_texts(ds: Dataset, split: Split, max_items: int = HISTORY_ITEMS) -> dict[int, str]:
    """user id -> the no-LLM user text, from the user's last ``max_items`` *training* items only
    (users without training items get none)."""
    if max_items < 1:
        raise ValueError(f"max_items must be >= 1, got {max_items}")
    out = {}
    for u in range(split.n_users):
        seq = split.train_sequence(u)
        if len(seq):
            out[u] = history_text(ds, u, seq[-max_items:])
    return out


def embed_texts(texts: dict[int, str], n: int, encoder: str = "minilm") -> np.ndarray:
    """[n, d] unit vectors, row i = texts[i]; zero rows where there is no text."""
    from pte.encoder import encode, load_encoder
    ids = sorted(texts)
    if ids and (ids[0] < 0 or ids[-1] >= n):
        raise ValueError(f"text ids must lie in [0, {n}), got {ids[0]}..{ids[-1]}")
    if not ids:
        return np.zeros((n, load_encoder(encoder).get_sentence_embedding_dimension()), np.float32)
    vec = encode([texts[i] for i in ids], encoder)
    out = np.zeros((n, vec.shape[1]), np.float32)
    out[ids] = vec
    return out


def profile_texts(path: str | Path) -> dict[int, str]:
    """id -> text of the valid rows of a profile JSONL file (rows marked "valid": false are skipped)."""
    from pte.llm.data import load_bank
    return load_bank(path)


def covered_users(emb: np.ndarray) -> np.ndarray:
    """Ids whose vector is not all-zero (the users a profile set covers)."""
    return np.flatnonzero(np.abs(np.asarray(emb)).sum(1) > 0)


def shared_users(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    """The users two rungs both cover (None: every user), so a step between them is paired on
    users that both profile sets describe, never on one set's gaps scored as misses."""
    if a is None or b is None:
        return b if a is None else a
    return np.intersect1d(a, b)


# ----------------------------------------------------------------- the ladder

def ladder_row(name: str, side: str, metrics: dict, covered: int, baseline: dict | None = None) -> dict:
    """One rung. A row evaluated on a subset of the validation rows must bring the no-LLM
    baseline's metrics on exactly the same users; the relative NDCG@10 difference is then added."""
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, got {side!r}")
    partial = metrics["n"] < metrics.get("n_valid", metrics["n"])
    if partial and baseline is None:
        raise ValueError(f"{name}: covers {metrics['n']} of {metrics['n_valid']} validation rows; "
                         f"give the baseline's metrics on the same users")
    row = {"name": name, "side": side, "metrics": metrics, "covered": int(covered)}
    if baseline is not None:
        if baseline["n"] != metrics["n"] or baseline.get("users") != metrics.get("users"):
            raise ValueError(f"{name}: the baseline was evaluated on other users "
                             f"({baseline['n']} rows vs {metrics['n']})")
        b = baseline["NDCG@10"]
        row["baseline"] = baseline
        row["rel_ndcg10"] = (metrics["NDCG@10"] - b) / b if b > 0 else float("nan")
    return row


def format_ladder(rows: list[dict]) -> str:
    """A plain-text table of ladder rows: the no-LLM baseline on the same users where a row has one,
    and the grounded (no LLM) rung on the same users where a row has that ("reference")."""
    head = ["name", "side", "covered", "n", *SHOWN, "base N@10", "rel N@10", "grounded N@10", "rel", "s"]
    body = []
    for r in rows:
        m, b, g = r["metrics"], r.get("baseline"), r.get("reference")
        body.append([r["name"], r["side"], str(r["covered"]), str(m["n"]), *(f"{m[k]:.4f}" for k in SHOWN),
                     f"{b['NDCG@10']:.4f}" if b else "-",
                     f"{r['rel_ndcg10']:+.1%}" if b else "-",
                     f"{g['NDCG@10']:.4f}" if g else "-",
                     f"{(m['NDCG@10'] - g['NDCG@10']) / g['NDCG@10']:+.1%}" if g and g['NDCG@10'] > 0 else "-",
                     f"{m['seconds']:.2f}" if "seconds" in m else "-"])
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    fmt = lambda cells: "  ".join(c.ljust(w) if j < 2 else c.rjust(w) for j, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([fmt(head), "  ".join("-" * w for w in widths), *(fmt(c) for c in body)])


def format_steps(rows: list[dict]) -> list[str]:
    """One line per rung that carries a paired ``step`` from the rung before it on the same users."""
    out = []
    for r in rows:
        st = r.get("step")
        if st:
            lo, hi = st["ci"]
            verdict = "up" if lo > 0 else "down" if hi < 0 else "within noise"
            out.append(f"step {st['from']} -> {r['name']} ({r['side']} side, {st['n']} users): NDCG@10 "
                       f"{st['rel']:+.1%}, 95% CI {lo:+.1%} to {hi:+.1%} ({verdict})")
    return out
