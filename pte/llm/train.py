"""Trainer plumbing shared by the stage scripts: seeds and threads, SFT on tokenised chats
(loss on assistant turns only), resumable training, loss/reward curves, training data dumps.

Works under ``python`` (one process) and ``accelerate launch`` (the trainer's
accelerator shards data and averages gradients; only the main process writes files).
"""
from __future__ import annotations

import json
import math
import os
import random
import shutil
from pathlib import Path
from typing import Iterable

import numpy as np

from pte.io import run_signature, write_json, write_jsonl
from pte.llm.data import Example, tokenize_chat
from pte.llm.model import precision_kwargs, report_to

RUNTIME_ENV = {"WANDB_MODE": "offline", "TOKENIZERS_PARALLELISM": "false"}  # a user's value wins
CHECKPOINT_EVERY = 4   # optimizer steps between the trainers' resume checkpoints (a kill loses fewer)


def setup(seed: int, threads: int = 1) -> None:
    """Run-time defaults (RUNTIME_ENV, where the user set nothing), seed everything; on CPU use
    ``threads`` torch threads (0: torch's default).

    On 2 shared cores one thread was measured faster than two (others' jobs contend).
    """
    for key, value in RUNTIME_ENV.items():
        os.environ.setdefault(key, value)
    import torch
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if threads > 0 and not torch.cuda.is_available():
        torch.set_num_threads(threads)


def is_main_process() -> bool:
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0"))) == 0


def dump_examples(path: str | Path, examples: Iterable[Example]) -> None:
    """Training data as JSON lines, for inspection (written by the main process only)."""
    if is_main_process():
        write_jsonl(path, [e.to_row() for e in examples])


def curve(log_history: list[dict], key: str) -> list[tuple[int, float]]:
    return [(int(h["step"]), float(h[key])) for h in log_history if key in h and h.get(key) is not None
            and math.isfinite(float(h[key]))]


def ends(points: list[tuple[int, float]], k: int = 3) -> tuple[float, float]:
    """Mean of the first and of the last ``k`` points (one noisy step says little)."""
    if not points:
        return float("nan"), float("nan")
    v = [p[1] for p in points]
    k = max(1, min(k, len(v) // 2 or 1))
    return float(np.mean(v[:k])), float(np.mean(v[-k:]))


def checkpoint_args() -> dict:
    """Trainer arguments that keep the latest resume checkpoint (train_resumably)."""
    return {"save_strategy": "steps", "save_steps": CHECKPOINT_EVERY, "save_total_limit": 1}


def training_signature(model, rows: list, settings: dict) -> str:
    """What a trainer checkpoint must match to be resumed: the training settings, the model (its
    path and its trainable weights before training: a parent adapter retrained since is another
    run) and the training rows."""
    weights = [p.detach().float().cpu().numpy() for _, p in sorted(model.named_parameters()) if p.requires_grad]
    return run_signature([settings, getattr(model.config, "_name_or_path", ""), rows], *weights)


def train_resumably(trainer, signature: str) -> None:
    """trainer.train(), continued from the last checkpoint that a killed run with this signature
    left in the trainer's output_dir (the checkpoints of any other run there are removed first);
    the checkpoints go once training has finished."""
    from transformers.trainer_utils import get_last_checkpoint
    folder = Path(trainer.args.output_dir)
    mark = folder / "signature.txt"
    if trainer.accelerator.is_main_process:
        if folder.exists() and (not mark.exists() or mark.read_text() != signature):
            shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        mark.write_text(signature)
    trainer.accelerator.wait_for_everyone()
    last = get_last_checkpoint(str(folder))
    if last and trainer.accelerator.is_main_process:
        print(f"resuming from {last} (a killed run of the same settings); delete {folder} to start over",
              flush=True)
    trainer.train(resume_from_checkpoint=last)
    trainer.accelerator.wait_for_everyone()
    if trainer.accelerator.is_main_process:
        shutil.rmtree(folder, ignore_errors=True)


def grpo_trainer(**kwargs):
    """trl's GRPOTrainer whose prompt order in epoch e depends only on (seed, e).

    trl's sampler draws every epoch's order from one generator, so a run resumed after an epoch
    boundary (more steps than prompts) would replay epoch 0's order instead of the unbroken run's.
    Epoch 0's order is trl's own (the generator starts at ``seed`` either way).
    """
    from trl import GRPOTrainer
    from trl.trainer.utils import RepeatSampler

    class EpochSeededSampler(RepeatSampler):
        def set_epoch(self, epoch: int) -> None:   # called by accelerate's dataloader every epoch
            if self.shuffle and self.seed is not None:
                self.generator.manual_seed(self.seed + epoch)

    class Trainer(GRPOTrainer):
        def _get_train_sampler(self, dataset=None):
            sampler = super()._get_train_sampler(dataset)
            sampler.__class__ = EpochSeededSampler
            return sampler

    return Trainer(**kwargs)


def sft(model, tokenizer, examples: list[Example], out_dir: str | Path, *, steps: int, batch_size: int,
        grad_accum: int, lr: float, max_length: int, seed: int, wandb: bool = False, run_name: str = "sft",
        epochs: float = 1.0, gradient_checkpointing: bool = True) -> dict:
    """Train ``model`` (a PeftModel) on chat examples, loss on assistant turns; save the adapter.
    A killed run continues from its last checkpoint (train_resumably).

    ``steps`` > 0 fixes the number of optimizer steps (CPU-sized default), else ``epochs``.
    Returns {"loss": [(step, loss)], "start": x, "end": y}.
    """
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer
    out_dir = Path(out_dir)
    rows = [tokenize_chat(tokenizer, e.messages, max_length) for e in examples]
    rows = [r for r in rows if any(l != -100 for l in r["labels"])]
    if not rows:
        raise ValueError("no training example keeps an answer token within max_length; raise --max_length")
    args = SFTConfig(
        output_dir=str(out_dir / "checkpoints"), max_steps=steps if steps > 0 else -1, num_train_epochs=epochs,
        per_device_train_batch_size=batch_size, gradient_accumulation_steps=grad_accum, learning_rate=lr,
        lr_scheduler_type="constant_with_warmup", warmup_steps=0, logging_steps=1, **checkpoint_args(),
        report_to=report_to(wandb), run_name=run_name, seed=seed, max_length=max_length, packing=False,
        dataset_num_proc=None, remove_unused_columns=True, disable_tqdm=False,
        **precision_kwargs(gradient_checkpointing))
    settings = {"steps": steps, "epochs": epochs, "batch_size": batch_size, "grad_accum": grad_accum, "lr": lr,
                "max_length": max_length, "seed": seed, "gradient_checkpointing": gradient_checkpointing}
    signature = training_signature(model, rows, settings)
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
    train_resumably(trainer, signature)
    trainer.save_model(str(out_dir))  # the LoRA adapter only (main process)
    loss = curve(trainer.state.log_history, "loss")
    start, end = ends(loss)
    result = {"loss": loss, "start": start, "end": end, "examples": len(rows),
              "steps": trainer.state.global_step}
    if trainer.accelerator.is_main_process:
        write_json(out_dir / "loss_curve.json", result)
        print(f"{run_name}: SFT loss {start:.3f} -> {end:.3f} (first/last 3 steps of {len(loss)}), "
              f"{len(rows)} examples, adapter -> {out_dir}")
    return result


def plot_curve(points: list[tuple[int, float]], path: str | Path, title: str, ylabel: str) -> None:
    """A PNG of a curve under img/ (skipped quietly where matplotlib is missing)."""
    if not is_main_process() or not points:
        return
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot([p[0] for p in points], [p[1] for p in points], marker=".")
    ax.set(xlabel="step", ylabel=ylabel, title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def stage_info(config: dict, **more) -> dict:
    """What to record beside an adapter: the script's config plus facts about its inputs."""
    return {"config": json.loads(json.dumps(config, default=str)), **more}
