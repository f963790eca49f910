"""The Profile and embedding stages in order, timed: the stage table of pte/pipeline.py.

    python llm/run_stage.py                                   # every LLM-side stage on ml-100k
    python llm/run_stage.py --stages inference_base_item,align
    python llm/run_stage.py --force true --stages sft_base    # rerun a complete stage

Each stage is its own script (run it alone to change its settings, e.g. GPU-sized step
counts); this driver runs them with their defaults, skips complete ones, and prints the
numbers that show training did something (SFT loss, GRPO held-out reward, alignment).
"""
import json
import os
import sys

from pte import pipeline
from pte.config import apply_overrides
from pte.io import read_json

DATA = "ml-100k"
STAGES = ""                 # comma-separated stage names (first word is enough; "" = every LLM-side stage)
FORCE = False               # run listed stages even when their outputs are complete
config = apply_overrides(globals(), epilog="Stages:\n" + "\n".join(f"  {s.name}" for s in pipeline.STAGES))

from pte.data import DataError, load_dataset  # noqa: E402
from pte.splits import settings_of  # noqa: E402

try:
    available = settings_of(load_dataset(DATA))   # a dataset without timestamps has no coldstart stages
except DataError as e:   # not prepared yet: say how
    sys.exit(f"error: {e}")
wanted = ([pipeline.stage(n) for n in STAGES.split(",")] if STAGES else
          [s for s in pipeline.STAGES if s.llm and s.settings <= set(available)])
out = pipeline.outputs_dir(DATA)
times_path = out / "run_stage_times.json"
run = pipeline.subprocess_runner(out / "logs", dict(os.environ), times_path, print)
for s in wanted:
    if s.done(DATA) and not FORCE:
        print(f"  {s.name:34s} complete, skipped")
        continue
    print(f"=== {s.name}: python {' '.join(s.command(DATA))}", flush=True)
    try:
        run(s.name, s.command(DATA), 0)
    except SystemExit as e:
        sys.exit(str(e))

times = json.loads(times_path.read_text()) if times_path.exists() else {}
print(f"\n{DATA}: {sum(times.get(s.name, 0) for s in wanted) / 60:.1f} min over {len(wanted)} stages (last runs)")
for stage in ("sft_base", "sft_base_mask", "sft_base_item"):
    p = pipeline.adapter_dir(DATA, pipeline.LLM_SETTING, stage) / "loss_curve.json"
    if p.exists():
        c = read_json(p)
        print(f"  {stage:22s} SFT loss {c['start']:.3f} -> {c['end']:.3f} ({c['steps']} steps)")
p = pipeline.adapter_dir(DATA, pipeline.LLM_SETTING, "grpo") / "reward_curve.json"
if p.exists():
    c = read_json(p)
    print(f"  grpo held-out reward {c['held_out_before']['reward']:.4f} -> {c['held_out_after']['reward']:.4f}"
          f" (NDCG {c['held_out_before']['rec_ndcg']:.4f} -> {c['held_out_after']['rec_ndcg']:.4f})")
for setting in pipeline.EVAL_SETTINGS:
    p = pipeline.artifact_path(DATA, "item_profile_aligned", setting).with_suffix(".json")
    if p.exists():
        m = read_json(p)
        print(f"  align ({setting}) valid retrieval NDCG@10 {m['valid_ndcg10_before']:.4f} -> "
              f"{m['valid_ndcg10_after']:.4f} (epoch {m['best_epoch']})")
