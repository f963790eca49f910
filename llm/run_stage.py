"""The whole Profile stage in order, timed: teacher -> (a) -> (b) -> (d) -> (c) -> inference.

    python llm/run_stage.py                                   # ml-100k, longtail, CPU-sized defaults
    python llm/run_stage.py --setting coldstart
    python llm/run_stage.py --stages inference_base,inference_base_item,inference_base_mask

Each stage is its own script (run it alone to change its settings, e.g. GPU-sized step
counts); this driver runs them as subprocesses with --data/--setting and prints the
numbers that show training did something (SFT loss, GRPO held-out reward).
"""
import json
import subprocess
import sys
import time
from pathlib import Path

from pte.config import apply_overrides
from pte.llm.data import LLM_SETTINGS
from pte.llm.profiles import adapter_dir

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = {"teacher": "llm/teacher.py", "sft_base": "llm/lora/sft_base.py",
           "sft_base_mask": "llm/lora/sft_base_mask.py", "sft_base_item": "llm/lora/sft_base_item.py",
           "grpo": "llm/lora/rlhf/rl_training.py", "inference_base": "llm/lora/inference_base.py",
           "inference_base_item": "llm/lora/inference_base_item.py",
           "inference_base_mask": "llm/lora/inference_base_mask.py"}

DATA = "ml-100k"
SETTING = "longtail"
STAGES = ",".join(SCRIPTS)   # comma-separated subset, run in this order
config = apply_overrides(globals(), choices={"SETTING": LLM_SETTINGS})

timings = {}
for stage in STAGES.split(","):
    if stage not in SCRIPTS:
        raise SystemExit(f"error: unknown stage {stage!r}; stages: {', '.join(SCRIPTS)}")
    cmd = [sys.executable, str(ROOT / SCRIPTS[stage]), "--data", DATA, "--setting", SETTING]
    print(f"\n=== {stage}: {' '.join(cmd[1:])}", flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT)
    timings[stage] = time.perf_counter() - t0
    print(f"=== {stage} done in {timings[stage] / 60:.1f} min", flush=True)

print(f"\nProfile stage on {DATA} ({SETTING}): {sum(timings.values()) / 60:.1f} min in all")
for stage, sec in timings.items():
    print(f"  {stage:22s} {sec / 60:6.1f} min")
for stage in ("sft_base", "sft_base_mask", "sft_base_item"):
    p = adapter_dir(DATA, SETTING, stage) / "loss_curve.json"
    if stage in timings and p.exists():
        c = json.loads(p.read_text())
        print(f"  {stage:22s} SFT loss {c['start']:.3f} -> {c['end']:.3f} ({c['steps']} steps)")
p = adapter_dir(DATA, SETTING, "grpo") / "reward_curve.json"
if "grpo" in timings and p.exists():
    c = json.loads(p.read_text())
    print(f"  grpo held-out reward {c['held_out_before']['reward']:.4f} -> {c['held_out_after']['reward']:.4f}"
          f" (NDCG {c['held_out_before']['rec_ndcg']:.4f} -> {c['held_out_after']['rec_ndcg']:.4f})")
