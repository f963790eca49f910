"""Foundation benchmark: BiasMF and SASRec on ml-100k, chronological leave-one-out, full ranking.
Each run is `Main.py --data ml-100k --setting longtail --eval full --seed N` with the script's defaults.

    python bench/bench_backbones.py                 # 3 seeds each (~15 min on 2 idle cores)
    python bench/bench_backbones.py --seeds 1 --only "BiasMF (BPR),BiasMF (softmax)"

Reference (RecBole 1.2.1, identical split, measured for issue 2): BPR 64-d test NDCG@10
0.062 / 0.071; SASRec 64-d, 2 layers, 2 heads, max length 50, CE: 0.114 / 0.109 / 0.107,
~230 s per epoch on 2 cores. Targets: BiasMF >= 0.070 at <= 0.25 s/epoch; SASRec >= 0.107
in <= 10 minutes; one full-ranking evaluation of all 943 users <= 50 ms.
Runs write to a temporary results folder, so results/ is untouched.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from pte.config import apply_overrides

SEEDS = 3
DATA = "ml-100k"
THREADS = 1          # torch threads per run (one is fastest for models this small on 2 cores)
RUNS = {             # name: (backbone, options beyond the script's longtail defaults, which are the recipe)
    "BiasMF (BPR)": ("BiasMF", []),
    # lr and L2 chosen on validation, see RESULTS.md "Benchmarks"
    "BiasMF (softmax)": ("BiasMF", ["--loss", "softmax", "--lr", "1e-2", "--reg", "5e-2"]),
    "SASRec": ("SASRec", []),   # 64-d, 2 layers, 2 heads, length 50, CE, post-LN: Main.py's longtail defaults
}
ONLY = ""            # comma-separated names from RUNS to run (""= all), e.g. --only "BiasMF (softmax)"
config = apply_overrides(globals())
ROOT = Path(__file__).resolve().parent.parent


def run(name: str, seed: int, out: Path) -> dict:
    backbone, options = RUNS[name]
    env = {**os.environ, "PTE_RESULTS": str(out), "OMP_NUM_THREADS": str(THREADS)}
    cmd = [sys.executable, str(ROOT / "base_models" / backbone / "Main.py"), "--data", DATA, "--setting", "longtail",
           "--eval", "full", "--seed", str(seed), "--tag", "bench", *options]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    row = [json.loads(x) for x in (out / f"{DATA}.jsonl").read_text().splitlines()][-1]
    return {"ndcg": row["test"]["NDCG@10"], "hr": row["test"]["HR@10"], "wall": wall,
            "epoch_s": row["train_seconds"] / row["epochs_run"], "best": row["best_epoch"]}


def full_ranking_ms(repeats: int = 20) -> float:
    """Median wall time of one full-ranking evaluation of every longtail test user (random scores)."""
    from pte.data import load_dataset
    from pte.evaluate import evaluate
    from pte.splits import load_split
    torch.set_num_threads(THREADS)
    ds = load_dataset(DATA)
    rows = load_split(ds, "longtail").test
    user_vecs, item_vecs = torch.randn(ds.n_users, 64), torch.randn(ds.n_items, 64)

    def score(chunk):
        return user_vecs[torch.as_tensor(chunk.users, dtype=torch.long)] @ item_vecs.T

    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        evaluate(score, rows)
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def mean_std(xs: list[float]) -> str:
    return f"{np.mean(xs):.4f} ± {np.std(xs, ddof=1) if len(xs) > 1 else 0:.4f}"


names = [n.strip() for n in ONLY.split(",")] if ONLY else list(RUNS)
if set(names) - set(RUNS):
    raise SystemExit(f"--only: unknown run(s) {sorted(set(names) - set(RUNS))}; choose from {list(RUNS)}")

with tempfile.TemporaryDirectory() as tmp:
    print(f"full-ranking evaluation of {DATA}'s 943 test users (both modes, groups): "
          f"{full_ranking_ms():.1f} ms (median of 20)")
    for name in names:
        res = [run(name, seed, Path(tmp)) for seed in range(SEEDS)]
        print(f"{name}: test NDCG@10 {mean_std([r['ndcg'] for r in res])}, HR@10 {mean_std([r['hr'] for r in res])} "
              f"over seeds {list(range(SEEDS))}; {np.mean([r['epoch_s'] for r in res]):.3f} s/epoch; "
              f"wall {np.mean([r['wall'] for r in res]) / 60:.1f} min per run; best epochs {[r['best'] for r in res]}")
        for seed, r in enumerate(res):
            print(f"  seed {seed}: NDCG@10 {r['ndcg']:.4f}  HR@10 {r['hr']:.4f}  wall {r['wall']:.0f}s")
