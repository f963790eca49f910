"""PtE ablation on ml-100k: raw profile embedding / + learned projection / + contrastive alignment.

    python bench/bench_pte.py                       # SASRec, both settings, 1 seed (~20 min on 2 cores)
    python bench/bench_pte.py --seeds 3 --backbones SASRec,DreamRec

The three are the methods pte_raw, pte_projection and pte (pte/reps/pte.py). Base and pte are
the main job's runs (tag main; `python reproduce.py` makes them, its complete stages and runs
are skipped here); pte_raw and pte_projection run through reproduce.py under tag "ablation",
with the same backbone recipe. Then this prints test metrics (mean ± std over seeds).
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
config = apply_overrides(globals())
ROOT = Path(__file__).resolve().parent.parent
VARIANTS = (("Base (main job)", "base", "main"), ("PtE raw", "pte_raw", "ablation"),
            ("PtE projection", "pte_projection", "ablation"), ("PtE aligned", "pte", "main"))

common = ["--data", DATA, "--seeds", str(SEEDS), "--backbones", BACKBONES, "--settings", SETTINGS]
subprocess.run([sys.executable, str(ROOT / "reproduce.py"), *common, "--methods", "base,pte"],
               check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
print("== PtE raw and projection", flush=True)
subprocess.run([sys.executable, str(ROOT / "reproduce.py"), *common, "--methods", "pte_raw,pte_projection",
                "--tag", "ablation"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)

rows = load_results(DATA)
COLS = {"coldstart": ("full", ["NDCG@10", "MRR@10", "NDCG@20", "MRR@20"]),
        "longtail": ("sampled", ["HR@10", "NDCG@10"])}
for setting in SETTINGS.split(","):
    mode, keys = COLS[setting]
    for bb in BACKBONES.split(","):
        print(f"\n{bb}, {setting} (test, {mode} ranking; mean ± std over seeds)")
        print(f"{'variant':22s}" + "".join(f"{k:>18s}" for k in keys) + "   seeds")
        for name, method, tag in VARIANTS:
            cell = collect(rows, setting, mode, tag, methods=method).get((bb, method))
            if not cell:
                print(f"{name:22s} (no runs)")
                continue
            stats = [_stat(cell[(None, k)]) for k in keys]
            print(f"{name:22s}" + "".join(f"{m:>11.4f} ± {s:.4f}" for m, s in stats)
                  + f"   {len(cell[(None, keys[0])])}")
