"""What every backbone's Main.py shares: set-up, the epoch loop with selection on
validation (resumable: a checkpoint after every epoch), the single test evaluation, the results
line and the top-K export.

A Main.py supplies only its model and one function that trains one epoch.
"""
from __future__ import annotations

import copy
import itertools
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from tqdm.auto import tqdm

from pte.data import DataError, Dataset, load_dataset
from pte.embeddings import files_read, save_embeddings
from pte.evaluate import ScoreFn, evaluate, topk
from pte.io import atomic_path, run_signature, write_jsonl
from pte.paths import outputs_root
from pte.results import append_result
from pte.retrieval import choose_weight
from pte.splits import Split, load_split, subsample_users

EVAL_MODES = ("full", "sampled")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def load_data(data: str, setting: str, fraction: float = 1.0) -> tuple[Dataset, Split]:
    """The dataset and one setting's split; ``fraction`` < 1 keeps a random part of the rows (smoke runs)."""
    try:
        ds = load_dataset(data)
        split = load_split(ds, setting)
    except DataError as e:   # bad or missing input: the message names the file and the fix, no traceback
        raise SystemExit(f"error: {e}") from None
    if fraction < 1.0:
        split = subsample_users(split, fraction)
    return ds, split


def eval_mode(setting: str, requested: str, split: Split) -> str:
    """The mode that selects epochs and fills valid/test: the setting's default unless asked."""
    mode = split.info.get("default_eval", "full") if requested in ("", "auto") else requested
    if mode not in EVAL_MODES:
        raise SystemExit(f"error: --eval must be one of {EVAL_MODES} (or auto), got {requested!r}")
    if mode == "sampled" and split.valid.negatives is None:
        raise SystemExit(f"error: --eval sampled needs stored negatives; the {setting} split has none "
                         f"(its protocol ranks all items). Use --eval full.")
    return mode


@dataclass
class Selection:
    """Early stopping on one validation metric; keeps the best weights in memory."""
    metric: str
    mode: str
    patience: int
    best: float = -math.inf
    best_epoch: int = -1
    best_state: dict | None = None
    history: list = field(default_factory=list)
    train_seconds: float = 0.0
    checkpoint: Path | None = None    # the run's resume file, removed once its results line is written

    def update(self, epoch: int, valid: dict, model: torch.nn.Module) -> bool:
        """Record an epoch; return True when training should stop."""
        value = float(valid[self.mode][self.metric])
        self.history.append((epoch, value))
        if value > self.best:
            self.best, self.best_epoch = value, epoch
            self.best_state = copy.deepcopy(model.state_dict())
        return epoch - self.best_epoch >= self.patience


def wandb_run(enabled: bool, project: str, config: dict):
    if not enabled:
        return None
    import wandb  # only when asked: offline by default, no account needed
    return wandb.init(project=project, config=config, mode=os.environ.get("WANDB_MODE", "offline"))


def descend(optimizer: torch.optim.Optimizer, losses: Iterable[torch.Tensor], max_steps: int = 0) -> float:
    """One optimizer step per loss drawn from ``losses`` (e.g. a generator over batches), at most
    ``max_steps`` of them when > 0 (smoke runs); returns their mean, the epoch's training loss."""
    total, steps = 0.0, 0
    for loss in itertools.islice(losses, max_steps or None):
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total, steps = total + loss.item(), steps + 1
    return total / max(steps, 1)


# options that change no number of a run: a rerun that differs only in them resumes it
UNKEYED = ("tag", "resume", "wandb", "save_topk", "save_items")


@dataclass
class Checkpoint:
    """Where a run continues after an interruption: its state after the last finished epoch
    (weights, optimizer, selection so far, every random generator), in one file per run under
    outputs/<data>/checkpoints/. The file's name holds a hash of the run's configuration and of
    the embedding files it read, so only the same run resumes from it; a resumed run prints the
    same numbers as one that was never stopped."""
    path: Path
    optimizer: torch.optim.Optimizer

    @classmethod
    def of(cls, config: dict, backbone: str, optimizer: torch.optim.Optimizer) -> "Checkpoint":
        keyed = {k: v for k, v in config.items() if k not in UNKEYED}
        key = run_signature([backbone, keyed, files_read()])
        name = f"{backbone}_{config['method']}_{config['setting']}_seed{config['seed']}_{key}.pt"
        return cls(outputs_root() / Path(str(config["data"])).name / "checkpoints" / name, optimizer)

    def save(self, epoch: int, stopped: bool, model: torch.nn.Module, sel: Selection) -> None:
        state = {"epoch": epoch, "stopped": stopped, "model": model.state_dict(),
                 "optimizer": self.optimizer.state_dict(), "rng": _rng_state(),
                 "selection": {"best": sel.best, "best_epoch": sel.best_epoch, "best_state": sel.best_state,
                               "history": sel.history, "train_seconds": sel.train_seconds}}
        with atomic_path(self.path) as tmp:
            torch.save(state, tmp)

    def restore(self, model: torch.nn.Module, sel: Selection) -> tuple[int, bool]:
        """(last finished epoch, whether training had stopped) from the file, loaded into model,
        optimizer, sel and the random generators; (0, False) when there is none, or when it cannot
        be read (then the run starts over and says so)."""
        sel.checkpoint = self.path
        if not self.path.exists():
            return 0, False
        fresh = copy.deepcopy(model.state_dict()), copy.deepcopy(self.optimizer.state_dict())
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
            model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        except Exception as e:  # damaged, or written by other code: what it holds cannot be trusted
            model.load_state_dict(fresh[0])
            self.optimizer.load_state_dict(fresh[1])
            print(f"{self.path}: unreadable checkpoint ({type(e).__name__}: {e}); starting from epoch 0",
                  flush=True)
            return 0, False
        for k, v in state["selection"].items():
            setattr(sel, k, [tuple(h) for h in v] if k == "history" else v)
        _set_rng_state(state["rng"])
        print(f"resuming from {self.path} after epoch {state['epoch']} (best validation {sel.metric} "
              f"{sel.best:.4f} at epoch {sel.best_epoch}); --resume false starts over", flush=True)
        return state["epoch"], state["stopped"]


def _rng_state() -> dict:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"torch": torch.get_rng_state(), "python": random.getstate(),
            "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    if state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])


def fit(model: torch.nn.Module, train_epoch: Callable[[int], float], score: ScoreFn, split: Split,
        mode: str, epochs: int, patience: int, eval_every: int = 1, log=None,
        checkpoint: Checkpoint | None = None) -> Selection:
    """Train up to ``epochs``, evaluating on validation; restore the best epoch's weights. With a
    checkpoint, continue from it and write it after every epoch."""
    sel = Selection(split.info["select"], mode, patience)
    start, stopped = checkpoint.restore(model, sel) if checkpoint else (0, False)
    bar = tqdm(range(start + 1, 1 if stopped else epochs + 1), desc="epochs", initial=start, total=epochs,
               dynamic_ncols=True)
    for epoch in bar:
        model.train()
        t0 = time.perf_counter()
        loss = train_epoch(epoch)
        sel.train_seconds += time.perf_counter() - t0
        if not math.isfinite(loss):
            raise FloatingPointError(f"training loss became {loss} at epoch {epoch}; lower --lr")
        stop = False
        if epoch % eval_every == 0 or epoch == epochs:
            model.eval()
            valid = evaluate(score, split.valid)
            stop = sel.update(epoch, valid, model)
            bar.set_postfix(loss=f"{loss:.4f}", **{f"val_{sel.metric}": f"{valid[mode][sel.metric]:.4f}",
                                                   "best": f"{sel.best:.4f}@{sel.best_epoch}"})
            if log is not None:
                log.log({"epoch": epoch, "loss": loss, **{f"valid/{k}": v for k, v in valid[mode].items()
                                                           if isinstance(v, float)}})
        if checkpoint:
            checkpoint.save(epoch, stop, model, sel)
        if stop:
            break
    model.load_state_dict(sel.best_state)
    model.eval()
    return sel


def finish(*, score: ScoreFn, ds: Dataset, split: Split, sel: Selection, config: dict,
           backbone: str, method: str, rep=None) -> dict:
    """Evaluate test once at the selected epoch (with the retrieval term's weight chosen on
    validation, pte.retrieval, when its grid is on), append the results line, print the table;
    export the top-K lists (config save_topk) and the item vectors (config save_items) if asked."""
    from pte.tables import format_run
    score, retrieval = choose_weight(score, rep, ds, split, sel.mode, sel.metric)
    valid = evaluate(score, split.valid)
    test = evaluate(score, split.test)
    mode = sel.mode
    other = {m: {"valid": valid[m], "test": test[m]} for m in valid if m != mode and m != "seconds"}
    row = {"data": ds.name, "setting": split.setting, "backbone": backbone, "method": method,
           "seed": config.get("seed"), "tag": config.get("tag", ""), "eval": mode, "valid": valid[mode], "test": test[mode], "other": other,
           "best_epoch": sel.best_epoch, "epochs_run": sel.history[-1][0] if sel.history else 0,
           "train_seconds": round(sel.train_seconds, 2), "eval_seconds": round(test["seconds"], 4), "config": config,
           "inputs": files_read()}
    if retrieval is not None:
        row["retrieval"] = retrieval
    path = append_result(row)
    if sel.checkpoint is not None:
        sel.checkpoint.unlink(missing_ok=True)
    print(format_run(row))
    print(f"results appended to {path}")
    if config.get("save_topk"):
        export_topk(score, ds, split, config["save_topk"])
    if config.get("save_items") and rep is not None:
        with torch.no_grad():
            save_embeddings(config["save_items"], rep.item_table().float().cpu().numpy(), ds.item_raw, kind="item",
                            data=ds.name, encoder=f"{backbone}/{method}", setting=split.setting, seed=config.get("seed"))
        print(f"item vectors written to {config['save_items']}")
    return row


def export_topk(score: ScoreFn, ds: Dataset, split: Split, path: str, k: int = 50) -> None:
    """One line per test row: raw user, raw target, the k best raw items (full ranking, masked)."""
    top = topk(score, split.test, k)
    users = split.test.users
    write_jsonl(path, ({"user": ds.user_raw[u] if u >= 0 else None, "target": ds.item_raw[t],
                        "topk": [ds.item_raw[i] for i in row]}
                       for u, t, row in zip(users, split.test.targets, top)))
    print(f"top-{k} lists of {len(top)} test rows written to {path}")
