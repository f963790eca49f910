"""PtE ablation on ml-100k: raw profile embedding / + learned projection / + contrastive alignment.

    python bench/bench_pte.py                       # SASRec, both settings, 1 seed (~20 min on 2 cores)
    python bench/bench_pte.py --seeds 3 --backbones SASRec,DreamRec

Needs the Profile stage's outputs (run `python reproduce.py` first; its LLM stages are skipped
here when complete). Each variant runs through reproduce.py with its own results tag
(ablation_raw, ablation_projection) and the same backbone sizes as the main job; "aligned" is
the main job's own PtE run (the same command), so it is read from the main results, not rerun.
Then this prints test metrics (mean ± std over seeds) beside the main job's Base.
Selection is on validation; test numbers are only read, never used to choose anything.
"""
import subprocess
import sys
from pathlib import Path

from pte.config import apply_overrides
from pte.results import load_results
from pte.tables import _stat, collect

DATA = "ml-100k"
SEEDS = 1
BACKBONES = "SASRec"
SETTINGS = "coldstart,longtail"
VARIANTS = "raw,projection,aligned"
config = apply_overrides(globals())
ROOT = Path(__file__).resolve().parent.parent

MAIN_VARIANT = "aligned"   # PtE's default (pte/reps/pte.py): its runs are the main job's


def tag_of(variant: str) -> str:
    return "main" if variant == MAIN_VARIANT else f"ablation_{variant}"


subprocess.run([sys.executable, str(ROOT / "reproduce.py"), "--data", DATA, "--seeds", str(SEEDS),
                "--backbones", BACKBONES, "--settings", SETTINGS, "--methods", "base,pte"],
               check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
for variant in [v for v in VARIANTS.split(",") if v != MAIN_VARIANT]:
    print(f"== PtE variant {variant}", flush=True)
    subprocess.run([sys.executable, str(ROOT / "reproduce.py"), "--data", DATA, "--seeds", str(SEEDS),
                    "--backbones", BACKBONES, "--settings", SETTINGS, "--methods", "pte",
                    "--tag", tag_of(variant), "--extra", f"--pte_variant {variant}"],
                   check=True, cwd=ROOT, stdout=subprocess.DEVNULL)

rows = load_results(DATA)
COLS = {"coldstart": ("full", ["NDCG@10", "MRR@10", "NDCG@20", "MRR@20"]),
        "longtail": ("sampled", ["HR@10", "NDCG@10"])}
for setting in SETTINGS.split(","):
    mode, keys = COLS[setting]
    for bb in BACKBONES.split(","):
        print(f"\n{bb}, {setting} (test, {mode} ranking; mean ± std over seeds)")
        print(f"{'variant':22s}" + "".join(f"{k:>18s}" for k in keys) + "   seeds")
        lines = [("Base (main job)", collect(rows, setting, mode, "main").get((bb, "base")))]
        lines += [(f"PtE {v}", collect(rows, setting, mode, tag_of(v)).get((bb, "pte")))
                  for v in VARIANTS.split(",")]
        for name, cell in lines:
            if not cell:
                print(f"{name:22s} (no runs)")
                continue
            stats = [_stat(cell[(None, k)]) for k in keys]
            print(f"{name:22s}" + "".join(f"{m:>11.4f} ± {s:.4f}" for m, s in stats)
                  + f"   {len(cell[(None, keys[0])])}")
