"""The main job: the whole PtE pipeline on one dataset, ending with the paper's two tables.

    python reproduce.py                          # ml-100k, one seed, 2-core CPU sizes
    python reproduce.py --seeds 3                # the paper's mean ± std over seeds
    python reproduce.py --methods all            # every method on every backbone and setting
    python reproduce.py --quick true             # CI-sized (a few minutes): tiny LLM steps, 1 epoch

Stages, each the same script a user runs by hand (its log in outputs/<data>/logs/):
  1. data       data/prepare.py
  2. profile    llm/teacher.py -> lora/sft_base.py (a) -> sft_base_mask.py (b) -> sft_base_item.py (d)
                -> rlhf/rl_training.py (c), on the training interactions common to both settings
                ("--setting both"), so one set of adapters serves both without leakage
  3. inference  lora/inference_base_item.py (item profiles, shared) and inference_base_mask.py
                (longtail user profiles; coldstart's evaluation users are cold and have none)
  4. align      llm/align.py per setting (contrastive alignment of the profile embeddings)
  5. backbones  base_models/<Backbone>/Main.py --method M --setting S --seed N (JOBS at a time);
                runs that read no profiles (every method but PtE) start right after stage 1, beside
                stages 2-4, which then take one thread fewer; PtE's runs start after stage 4
  6. tables     results/<data>_<tag>_table{3,4}.{md,tex} and figures in img/
A stage whose outputs are complete is skipped, so a killed run resumes where it stopped and
a finished one reruns in seconds. Stage times are kept in outputs/<data>/reproduce_times.json.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pte.config import apply_overrides
from pte.paths import IMG, OUTPUTS, ROOT
from pte.tables import paper_methods, table3, table4

DATA = "ml-100k"
SEEDS = 1                   # seeds per run: 2024, 2025, ...
SETTINGS = "coldstart,longtail"
BACKBONES = "SASRec,DreamRec,BiasMF"
METHODS = "paper"           # paper: the methods of the paper's tables | all: every method everywhere | a,b,c
JOBS = 2                    # backbone runs at a time (one CPU thread each)
QUICK = False               # CI sizes: tiny LLM steps, subsets of profiles, 1 epoch on 5% of the rows
TAG = ""                    # results tag ("" = main, or quick)
EXTRA = ""                  # extra arguments for every backbone run, e.g. "--pte_variant raw" (bench/bench_pte.py)
# Profile stage sizes (2-core CPU; on a GPU raise them, e.g. steps 300, teacher 0 = all)
TEACHER_USERS = 64
TEACHER_ITEMS = 64
SFT_STEPS = 16
GRPO_STEPS = 8
# Backbone sizes for this run (each script's own defaults are the full-length ones)
SASREC_LONGTAIL = "--max_len 50 --stride 25 --inner 256 --dropout 0.5 --batch_size 32 --norm post --epochs 60"
SASREC_COLDSTART = "--epochs 40 --patience 5"
DREAMREC = "--epochs 30 --sampler ddim"
BIASMF = ""
METHOD_SIZES = "--llmesr_refresh 20"  # every run: LLM-ESR's neighbour states reused for 20 steps (pte/reps/llmesr.py)
config = apply_overrides(globals())

QUICK_METHODS = "base,pte"
QUICK_BACKBONE = "--epochs 1 --fraction 0.05"
tag = TAG or ("quick" if QUICK else "main")
outputs = OUTPUTS / "quick" if QUICK else OUTPUTS  # quick adapters never overwrite real ones
env = {**os.environ, "PTE_OUTPUTS": str(outputs), "WANDB_MODE": os.environ.get("WANDB_MODE", "offline")}
out = outputs / Path(DATA).name
logs = out / "logs"
logs.mkdir(parents=True, exist_ok=True)
times_path = out / "reproduce_times.json"
times: dict[str, float] = json.loads(times_path.read_text()) if times_path.exists() else {}
py = sys.executable
print_lock = threading.Lock()


def say(line: str) -> None:
    with print_lock:  # backbone runs finish in parallel threads
        print(line, flush=True)
t_start = time.perf_counter()


def save_times() -> None:
    tmp = times_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(times, indent=1) + "\n")
    tmp.replace(times_path)


def run(name: str, args: list[str], done: bool, threads: int = 0) -> None:
    """One stage: skipped when its outputs are complete, else run with its log in logs/."""
    if done:
        say(f"  {name:34s} complete, skipped")
        return
    log = logs / (re.sub(r"[^\w.-]+", "_", name).strip("_") + ".log")
    t0 = time.perf_counter()
    e = {**env, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    with open(log, "w") as f:
        rc = subprocess.run([py, *args], cwd=ROOT, env=e, stdout=f, stderr=subprocess.STDOUT).returncode
    sec = time.perf_counter() - t0
    if rc != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(True)[-25:])
        raise SystemExit(f"{tail}\nerror: stage {name} failed (exit {rc}); full log: {log}\n"
                         f"fix the cause and rerun this command: finished stages are kept")
    if name not in times or sec > 2:  # an up-to-date "prepare" keeps the time of the run that built the data
        times[name] = round(sec, 1)
    with print_lock:
        save_times()
    say(f"  {name:34s} {sec / 60:5.1f} min  (log {log.relative_to(ROOT) if log.is_relative_to(ROOT) else log})")


def adapter_done(stage: str) -> bool:
    return (out / "both" / "adapters" / stage / "pte_stage.json").exists()


def emb(setting: str, name: str) -> Path:
    return out / setting / "embeddings" / f"{name}.npy"


settings = SETTINGS.split(",")
backbones = BACKBONES.split(",")
seeds = [2024 + k for k in range(SEEDS)]
print(f"PtE pipeline on {DATA} ({'quick' if QUICK else 'full'}; results tag '{tag}'; outputs in {out})", flush=True)

# ---- 1. data
print("1. data", flush=True)
run("prepare", ["data/prepare.py", "--data", DATA], done=False)
from pte.data import load_dataset  # noqa: E402  (after prepare: the folder exists now)
ds = load_dataset(DATA)

# ---- 2-4. the LLM side: profile stage, profile inference, alignment
q = QUICK
teacher = ["--n_users", "4", "--n_items", "4", "--max_new_tokens", "24"] if q else \
    ["--n_users", str(TEACHER_USERS), "--n_items", str(TEACHER_ITEMS)]
sft = ["--steps", "1", "--batch_size", "2"] if q else ["--steps", str(SFT_STEPS)]
grpo = ["--steps", "1", "--n_train_users", "2", "--n_eval_users", "2", "--batch_size", "2", "--num_generations", "2",
        "--grad_accum", "1", "--max_completion", "16"] if q else ["--steps", str(GRPO_STEPS)]
common = ["--data", DATA, "--setting", "both"]
item_emb = emb("both", "item_profile")


def llm(name: str, args: list[str], done: bool) -> None:
    """An LLM stage: one thread while backbone runs that need no profiles share the machine, else all."""
    run(name, args, done, threads=max(1, (os.cpu_count() or 1) - (JOBS - 1)) if free_left else 0)


def llm_stages() -> None:
    say("2. profile stage (LLM), on the interactions both settings train on")
    llm("teacher", ["llm/teacher.py", *common, *teacher],
        done=all((out / "both" / "teacher" / f"{k}.jsonl").exists() for k in ("users", "items")) and
        not list((out / "both" / "teacher").glob("*.partial*")))
    llm("sft_base (a)", ["llm/lora/sft_base.py", *common, *sft], done=adapter_done("sft_base"))
    llm("sft_base_mask (b)", ["llm/lora/sft_base_mask.py", *common, *sft], done=adapter_done("sft_base_mask"))
    llm("sft_base_item (d)", ["llm/lora/sft_base_item.py", *common, *sft], done=adapter_done("sft_base_item"))
    llm("rl_training (c, GRPO)", ["llm/lora/rlhf/rl_training.py", *common, *grpo], done=adapter_done("grpo"))

    say("3. profile inference")
    # a profile the model fails to write twice gets the item/user text embedding, counted in the sidecar
    limit = ["--fallback", "text"] + (["--limit", "8"] if q else [])
    llm("inference_base_item", ["llm/lora/inference_base_item.py", *common, *limit], done=item_emb.exists())
    if "longtail" in settings:
        llm("inference_base_mask (longtail)", ["llm/lora/inference_base_mask.py", "--data", DATA, "--setting",
                                               "longtail", "--adapter", str(out / "both" / "adapters" / "grpo"),
                                               *limit],
            done=emb("longtail", "user_profile").exists())

    say("4. alignment")
    for s in settings:
        user = ["--user_emb", str(emb("longtail", "user_profile"))] if s == "longtail" else ["--user_emb", "none"]
        llm(f"align ({s})", ["llm/align.py", "--data", DATA, "--setting", s, "--item_emb", str(item_emb), *user,
                             *(["--epochs", "2"] if q else [])],
            done=emb(s, "item_profile_aligned").exists())


# ---- 5. backbones x methods x settings x seeds
from pte.reps import METHODS as REGISTRY  # noqa: E402
from pte.results import load_results, results_path  # noqa: E402


def methods_of(setting: str, backbone: str) -> list[str]:
    if QUICK:
        return QUICK_METHODS.split(",")
    if METHODS == "paper":
        return paper_methods(setting, backbone)
    names = list(REGISTRY) if METHODS == "all" else METHODS.split(",")
    return [m for m in names if m != "idreamrec" or backbone == "DreamRec"]  # iDreamRec is a DreamRec method


def item_vectors_path(method: str) -> Path:
    """Trained SASRec item vectors (longtail, first seed) for the ID / LLM / PtE figure."""
    return out / "item_vectors" / f"SASRec_longtail_{method}.npy"


def backbone_args(setting: str, backbone: str, method: str, seed: int) -> list[str]:
    args = [f"base_models/{backbone}/Main.py", "--data", DATA, "--setting", setting, "--method", method,
            "--seed", str(seed), "--tag", tag]
    if (setting, backbone, seed) == ("longtail", "SASRec", seeds[0]) and method in ("base", "pte"):
        args += ["--save_items", str(item_vectors_path(method))]
    if method == "pte":
        args += ["--item_emb", str(item_emb)]
        args += ["--user_emb", str(emb("longtail", "user_profile"))] if setting == "longtail" else \
            ["--pte_user_side", "false"]
    args += EXTRA.split()
    if QUICK:
        return args + QUICK_BACKBONE.split()
    sizes = {"SASRec": SASREC_LONGTAIL if setting == "longtail" else SASREC_COLDSTART, "DreamRec": DREAMREC,
             "BiasMF": BIASMF}[backbone]
    return args + sizes.split() + METHOD_SIZES.split()


done_runs = {(r["setting"], r["backbone"], r["method"], r["seed"]) for r in load_results(DATA) if r.get("tag") == tag}
jobs = [(s, b, m, seed) for s in settings for b in backbones for m in methods_of(s, b) for seed in seeds]
# runs that read no profiles start at once, beside the LLM side; PtE's runs wait for its embeddings
free = [j for j in jobs if j[2] != "pte"]
free_left = {j for j in free if j not in done_runs}
llm_finished = threading.Event()
llm_failure: list[str] = []


def run_llm() -> None:
    try:
        llm_stages()
    except SystemExit as e:
        llm_failure.append(str(e))
        say(str(e).strip().splitlines()[-2])
    finally:
        llm_finished.set()


def run_backbone(j: tuple) -> str | None:
    """One backbone run; a failure is reported after the others finish instead of stopping them."""
    # an explicit tag (bench/bench_pte.py's variants) gets its own log file and stage time
    name = f"{j[1]} {j[0]} {j[2]} seed {j[3]}" + (f" [{TAG}]" if TAG else "")
    if j not in free:
        llm_finished.wait()
        if llm_failure:
            return f"{name} (not run: the LLM side failed)"
    try:
        run(name, backbone_args(*j), done=j in done_runs, threads=1 if JOBS > 1 else 0)
    except SystemExit as e:
        say(str(e).strip().splitlines()[-2])
        return name
    finally:
        free_left.discard(j)
    return None


print(f"2-5. the LLM side, and {len(jobs)} backbone runs ({sum(j in done_runs for j in jobs)} complete), {JOBS} at a "
      f"time: the {len(free)} that read no profiles run beside the LLM side", flush=True)
with ThreadPoolExecutor(max(1, JOBS)) as pool:
    pool.submit(run_llm)
    failed = [f for f in pool.map(run_backbone, free + [j for j in jobs if j not in free]) if f]
if llm_failure:
    raise SystemExit(llm_failure[0])

# ---- 6. tables and figures (from results lines only)
print("6. tables and figures", flush=True)
from pte.figures import popularity_groups  # noqa: E402

rows = load_results(DATA)
# the tables show the paper's layout plus whatever else this invocation ran
shown = METHODS if METHODS in ("paper", "all") else f"paper,{METHODS}"
written = []
for latex in (False, True):
    ext = "tex" if latex else "md"
    t3 = results_path(DATA).with_name(f"{Path(DATA).name}_{tag}_table3.{ext}")
    t4 = results_path(DATA).with_name(f"{Path(DATA).name}_{tag}_table4.{ext}")
    t3.write_text(table3(rows, tag, latex, shown))
    t4.write_text("\n".join(table4(rows, mode, b, tag, latex, shown) for b in backbones for mode in ("sampled", "full")))
    written += [t3, t4]
fig = popularity_groups(rows, IMG / f"{Path(DATA).name}_{tag}_popularity.png", tag, shown)
views = {"ID (SASRec, base)": item_vectors_path("base"), "LLM (item text, MiniLM)": ds.root / "item_text.npy",
         "LLM profile (SmolLM2 -> MiniLM)": item_emb, "PtE (SASRec, pte)": item_vectors_path("pte")}
fig2 = None
if all(p.exists() for p in views.values()):
    import numpy as np
    from pte.embeddings import load_embeddings
    from pte.figures import embedding_views
    from pte.splits import load_split
    popularity = np.bincount(load_split(ds, "longtail").train_items, minlength=ds.n_items)
    fig2 = embedding_views({k: load_embeddings(p, ds, "item") for k, p in views.items()}, popularity,
                           IMG / f"{Path(DATA).name}_{tag}_embeddings.png")
print(table3(rows, tag, methods=shown))
for b in backbones:
    print(table4(rows, "sampled", b, tag, methods=shown))
print(f"done in {(time.perf_counter() - t_start) / 60:.1f} min (this invocation); "
      f"sum of stage times, all invocations (parallel runs counted one by one): {sum(times.values()) / 60:.1f} min")
print("artifacts:")
print(f"  results lines   {results_path(DATA)} (tag '{tag}')")
for p in written:
    print(f"  table           {p}")
for f in (fig, fig2):
    if f:
        print(f"  figure          {f}")
print(f"  adapters        {out / 'both' / 'adapters'}")
print(f"  profiles        {out / 'both' / 'profiles'}, {out / 'longtail' / 'profiles'}")
print(f"  embeddings      {out}/<setting>/embeddings")
print(f"  logs, times     {logs}, {times_path}")
if failed:
    raise SystemExit(f"error: {len(failed)} backbone run(s) failed: {', '.join(failed)}; their logs are in {logs}. "
                     f"Rerun this command after fixing the cause: completed runs are skipped")
