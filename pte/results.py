"""One JSON line per run in results/<data>.jsonl at the repository root.

Schema (every key always present):
  data, setting, backbone, method, seed, eval        what ran; eval = the mode of valid/test
  valid, test      metric dicts in that mode: {"HR@10": .., "NDCG@10": .., "MRR@10": .., ...,
                   "groups": {"tail_item": {...}, ...} (longtail), "n": rows}
  other            the other mode's numbers, {"full": {"valid": .., "test": ..}} or {} (coldstart)
  best_epoch, epochs_run, train_seconds, eval_seconds, time (ISO), config (every constant)
  machine          what decides the last digits (rows from 2026-12-03 on): torch's version, the CPU
                   kernels it dispatched to (AVX2 / AVX512 round differently), its threads, the GPU
  inputs           the embedding files the run read, path -> fingerprint of the vectors
                   (pte.embeddings.files_read; rows from 2026-12-04 on): which Profile-stage run it used
"""
from __future__ import annotations

import datetime as _dt
from pathlib import Path

from pte.io import append_jsonl, read_jsonl
from pte.paths import RESULTS


def results_path(data: str) -> Path:
    return RESULTS / f"{Path(data).name}.jsonl"


def machine() -> dict:
    """The machine facts a row's digits depend on: the same code and seed print other numbers
    under another torch build or another CPU kernel set (README, Assumptions)."""
    import torch
    return {"torch": torch.__version__, "cpu": torch.backends.cpu.get_cpu_capability(),
            "threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else ""}


def append_result(row: dict) -> Path:
    row = {**row, "time": _dt.datetime.now().isoformat(timespec="seconds"), "machine": machine()}
    path = results_path(row["data"])
    append_jsonl(path, row)
    return path


def load_results(data: str) -> list[dict]:
    path = results_path(data)
    return read_jsonl(path) if path.exists() else []
