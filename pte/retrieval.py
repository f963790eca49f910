"""A retrieval term over the profiles, fused with a trained backbone's scores; its weight chosen on validation.

    score(row, i) = z(backbone(row, i)) + λ · z(cos(mean of the row's last RETRIEVAL_LAST items' vectors, vector_i))

z standardises a row's scores over all items, so λ means the same on every backbone whatever
its score scale, and λ = 0 is the backbone alone. The vectors are the method's own profile
table (PtE: the aligned profile embeddings, the aligner's cosine space; DreamRec's frozen
table is a whitened view of the same file) or any item embedding file. The backbone is
trained and its epoch chosen without the term; then every λ of RETRIEVAL_WEIGHTS is scored on
validation in one pass, the best is kept, and test is read once with it. Why: the profiles
rank the next item by themselves (RESULTS.md, "A retrieval term over the profiles"), and a backbone
that learns from them does not always keep what they rank.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from pte.batch import as_tensor
from pte.evaluate import EVAL_BATCH, ScoreFn, ranks, summarize
from pte.splits import Samples

RETRIEVAL_WEIGHTS = (0.0,)  # λ grid chosen on validation; (0.0,) = off (the backbone alone)
RETRIEVAL_LAST = 3          # the history items whose mean vector is the query
RETRIEVAL_EMB = ""          # item vectors to retrieve with (.npy + sidecar); "" = the method's profile table


def is_on() -> bool:
    return any(float(w) != 0 for w in RETRIEVAL_WEIGHTS)


def retrieval_table(rep, ds, setting: str) -> torch.Tensor:
    """Unit-length item vectors [n_items, d] for the term: RETRIEVAL_EMB, else the method's own
    (``rep.retrieval_table()``). Exits with the fix when there are none or they are not finite;
    every Main.py calls it before training (reps.build), so a bad file costs no training time."""
    from pte.data import DataError
    if RETRIEVAL_EMB:
        from pte.embeddings import load_embeddings
        try:
            table = torch.as_tensor(load_embeddings(Path(RETRIEVAL_EMB), ds, "item", setting=setting))
        except DataError as e:
            raise SystemExit(f"error: --retrieval_emb: {e}") from None
    else:
        table = rep.retrieval_table() if rep is not None else None
    if table is None:
        raise SystemExit("error: --retrieval_weights needs item vectors: this method has no profile table; "
                         "pass --retrieval_emb FILE (e.g. the aligned profiles) or --retrieval_weights 0")
    if not torch.isfinite(table).all():
        raise SystemExit(f"error: the retrieval vectors ({RETRIEVAL_EMB or 'the method profile table'}) hold NaN "
                         "or inf; re-create the file")
    return F.normalize(table.float().cpu(), dim=-1)


def standardized(scores: torch.Tensor) -> torch.Tensor:
    """Each row minus its mean over items, over its standard deviation (0 for a constant row)."""
    scores = scores.float()
    centred = scores - scores.mean(1, keepdim=True)
    return centred / scores.std(1, keepdim=True).clamp(min=1e-8)


def retrieval_scores(table: torch.Tensor, inputs: np.ndarray, last: int) -> torch.Tensor:
    """[B, n_items] cosine of the mean of each row's last ``last`` items to every item; 0 rows
    for an empty history. inputs are left-padded item ids (pad = n_items)."""
    n = table.shape[0]
    x = as_tensor(inputs[:, -last:], n)
    real = (x != n).unsqueeze(-1).float()
    query = F.normalize((table[x.clamp(max=n - 1)] * real).sum(1), dim=-1)
    return query @ table.T


def fused(score: ScoreFn, table: torch.Tensor, weight: float, last: int) -> ScoreFn:
    """The score function of backbone + weight · retrieval (the backbone alone at weight 0)."""
    if weight == 0:
        return score

    def fused_score(rows: Samples) -> torch.Tensor:
        s = score(rows)
        r = retrieval_scores(table.to(s.device), rows.inputs, last)
        return standardized(s) + weight * standardized(r)
    return fused_score


@torch.no_grad()
def metrics_by_weight(score: ScoreFn, table: torch.Tensor, rows: Samples, weights, last: int,
                      batch_size: int = EVAL_BATCH) -> dict[float, dict]:
    """evaluate()'s metrics for every weight, scoring the backbone once per batch."""
    parts: dict[float, dict[str, list]] = {w: {} for w in weights}
    for start in range(0, len(rows), batch_size):
        chunk = rows.subset(np.arange(start, min(start + batch_size, len(rows))))
        s = standardized(score(chunk))
        r = standardized(retrieval_scores(table.to(s.device), chunk.inputs, last))
        for w in weights:
            for mode, rk in ranks(s + w * r, chunk).items():
                parts[w].setdefault(mode, []).append(rk.cpu())
    return {w: summarize({m: torch.cat(v) for m, v in p.items()}, rows.groups) for w, p in parts.items()}


def choose_weight(score: ScoreFn, rep, ds, split, mode: str, metric: str) -> tuple[ScoreFn, dict | None]:
    """(the score to test with, a record of the choice) — the weight of RETRIEVAL_WEIGHTS with the
    best validation ``metric``, ties to the smaller weight; (score, None) when the term is off."""
    if not is_on():
        return score, None
    weights = sorted(set(float(w) for w in RETRIEVAL_WEIGHTS))
    table = retrieval_table(rep, ds, split.setting)
    valid = metrics_by_weight(score, table, split.valid, weights, RETRIEVAL_LAST)
    by_weight = {w: valid[w][mode][metric] for w in weights}
    best = max(weights, key=lambda w: (by_weight[w], -w))
    print("retrieval term, validation " + metric + " by weight: "
          + ", ".join(f"{w:g}: {v:.4f}" for w, v in by_weight.items()) + f" -> weight {best:g}")
    record = {"weight": best, "last": RETRIEVAL_LAST, "emb": RETRIEVAL_EMB or "profile table",
              "valid_by_weight": {f"{w:g}": v for w, v in by_weight.items()}}
    return fused(score, table, best, RETRIEVAL_LAST), record
