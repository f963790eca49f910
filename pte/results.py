"""One JSON line per run in results/<data>.jsonl at the repository root.

Schema (every key always present):
  data, setting, backbone, method, seed, eval        what ran; eval = the mode of valid/test
  valid, test      metric dicts in that mode: {"HR@10": .., "NDCG@10": .., "MRR@10": .., ...,
                   "groups": {"tail_item": {...}, ...} (longtail), "n": rows}
  other            the other mode's numbers, {"full": {"valid": .., "test": ..}} or {} (coldstart)
  best_epoch, epochs_run, train_seconds, eval_seconds, time (ISO), config (every constant)
"""
from __future__ import annotations

import datetime as _dt
from pathlib import Path

from pte.io import append_jsonl, read_jsonl
from pte.paths import RESULTS


def results_path(data: str) -> Path:
    return RESULTS / f"{Path(data).name}.jsonl"


def append_result(row: dict) -> Path:
    row = {**row, "time": _dt.datetime.now().isoformat(timespec="seconds")}
    path = results_path(row["data"])
    append_jsonl(path, row)
    return path


def load_results(data: str) -> list[dict]:
    path = results_path(data)
    return read_jsonl(path) if path.exists() else []
