"""The main job: the whole PtE pipeline on one dataset, ending with the paper's two tables.

    python reproduce.py                          # ml-100k, one seed, 2-core CPU sizes
    python reproduce.py --seeds 3                # the paper's mean ± std over seeds
    python reproduce.py --methods all            # every method on every backbone and setting
    python reproduce.py --quick true             # CI-sized (a few minutes): tiny LLM steps, 1 epoch
    python reproduce.py --llm_seed 1 --methods pte --seeds 3   # PtE on a second run of the Profile stage
    python reproduce.py --profiles shipped       # no LLM: the published profile texts, encoded (minutes)

Every stage is a script a user runs by hand, with its defaults (the published recipe);
the stage table, artifact paths and backbone registry live in pte/pipeline.py. The
backbone runs are planned first; the LLM-side stages are those that make what their
methods read (Representation.reads), run in table order on one lane, and each run starts
once the stages it needs are done: runs that read no profiles go beside the LLM side from
the start, while the LLM side takes one thread fewer. Then the tables (results/) and figures
(img/), from results lines only. A complete stage or run is skipped, so a killed job resumes
where it stopped and a finished one reruns in seconds (completed runs are recorded in
outputs/<data>/runs/<tag>.jsonl: on a fresh clone every run runs and appends its results line
beside the shipped ones, and the tables show the latest line of each run). Logs:
outputs/<data>/logs/; stage times: outputs/<data>/reproduce_times.json.
"""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from pte import pipeline
from pte.config import apply_overrides
from pte.paths import IMG, outputs_root

DATA = "ml-100k"
SEEDS = 1                   # seeds per run: 2024, 2025, ...
SETTINGS = "coldstart,longtail"
BACKBONES = "SASRec,DreamRec,BiasMF"   # registered in pte/pipeline.py BACKBONES
METHODS = "paper"           # paper: the methods of the paper's tables | all: every method everywhere | a,b,c
JOBS = 2                    # backbone runs at a time (one CPU thread each)
QUICK = False               # CI sizes: tiny LLM steps, subsets of profiles, 1 epoch of 20 steps, 5% of rows scored
TAG = ""                    # results tag ("" = main, main_llm<N> with --llm_seed N, or quick)
LLM_SEED = 0                # Profile-stage seed, passed to every LLM-side stage; N > 0 keeps its outputs
                            # apart (outputs/llm_seed<N>/) and tags its runs main_llm<N>
EXTRA = ""                  # extra arguments for every backbone run, e.g. "--dim 128"
PROFILES = "generate"       # generate: run the Profile stage | shipped: encode the profile texts shipped in
                            # results/<data>_profiles/ instead (llm/restore_profiles.py; no LLM, outputs/shipped/,
                            # tag shipped): the published PtE rows reprint from them on a like host
_STAGE_LIST = "\n".join(f"  {s.name:32s} {s.script} {' '.join(s.args)}" for s in pipeline.STAGES)
config = apply_overrides(globals(), choices={"PROFILES": ("generate", "shipped")},
                         epilog=f"Stages (pte/pipeline.py; run in this order when a method reads their outputs):\n"
                                f"{_STAGE_LIST}")

QUICK_METHODS = "base,pte"
QUICK_BACKBONE = "--epochs 1 --max_steps 20 --fraction 0.05"
SHIPPED = PROFILES == "shipped"
if SHIPPED and LLM_SEED:
    raise SystemExit("error: --profiles shipped reads the published texts of one Profile-stage run; drop --llm_seed")
tag = TAG or ("quick" if QUICK else "shipped" if SHIPPED else "main" + (f"_llm{LLM_SEED}" if LLM_SEED else ""))
if QUICK or LLM_SEED or SHIPPED:  # CI-sized, other-seed or restored profiles never mix with the main ones
    folder = "quick" if QUICK else f"llm_seed{LLM_SEED}" if LLM_SEED else ""
    os.environ["PTE_OUTPUTS"] = str(outputs_root() / "_".join(filter(None, [folder, "shipped" if SHIPPED else ""])))
    os.environ["PTE_IMG"] = str(Path(os.environ["PTE_OUTPUTS"]) / "img")  # the stages' figures too (GRPO's curve)
os.environ.setdefault("WANDB_MODE", "offline")
out = pipeline.outputs_dir(DATA)
logs, times_path = out / "logs", out / "reproduce_times.json"
print_lock = threading.Lock()


def say(line: str) -> None:
    with print_lock:  # backbone runs finish in parallel threads
        print(line, flush=True)


t_start = time.perf_counter()
run = pipeline.subprocess_runner(logs, dict(os.environ), times_path, say)
settings, backbones = SETTINGS.split(","), BACKBONES.split(",")
seeds = [2024 + k for k in range(SEEDS)]
print(f"PtE pipeline on {DATA} ({'quick' if QUICK else 'full'}; results tag '{tag}'; outputs in {out}"
      f"{'; profiles: the shipped texts' if SHIPPED else ''})", flush=True)
from pte.llm.model import cpu_has_bf16  # noqa: E402
from pte.results import load_results, machine, results_path  # noqa: E402
host = machine()   # the times below depend on it: RESULTS.md, "The main job"
print(f"machine: {os.cpu_count()} cores, torch {host['torch']} on {host['cpu']} kernels"
      f"{', GPU ' + host['gpu'] if host['gpu'] else ''}; CPU generation in "
      f"{'bf16 (native)' if cpu_has_bf16() else 'fp32 (no native bf16)'}", flush=True)
if not (SHIPPED or QUICK or host["gpu"] or cpu_has_bf16()):
    print("  note: without native bf16 the Profile stage alone takes about two hours on 2 cores (RESULTS.md, "
          "'The main job'); --profiles shipped runs everything after it on the published profile texts", flush=True)

# ---- 1. data
print("1. data", flush=True)
run("prepare", pipeline.stage("prepare").command(DATA), 0)
if SHIPPED:   # the profile files the inference stages would write; the stages behind them are then not needed
    run("restore_profiles", ["llm/restore_profiles.py", "--data", DATA], 0)
from pte.data import load_dataset  # noqa: E402  (after prepare: the folder exists now)
from pte.tables import METHOD_ORDER, paper_methods, table3, table4  # noqa: E402

ds = load_dataset(DATA)
from pte.splits import settings_of  # noqa: E402
if set(settings) - set(settings_of(ds)):   # e.g. beauty-5core has no timestamps, so no coldstart split
    print(f"  {DATA} has no {', '.join(sorted(set(settings) - set(settings_of(ds))))} split "
          f"(see data/README.md): running {', '.join(settings_of(ds))} only", flush=True)
    settings = [s for s in settings if s in settings_of(ds)]
    if not settings:
        raise SystemExit(f"error: --settings {SETTINGS}: {DATA} supports only {', '.join(settings_of(ds))}")


# ---- 2. plan: backbone runs, and the LLM-side stages that make what their methods read
def methods_of(setting: str, backbone: str) -> list[str]:
    if QUICK:
        return QUICK_METHODS.split(",")
    if METHODS == "paper":
        return paper_methods(setting, backbone)
    return list(METHOD_ORDER) if METHODS == "all" else METHODS.split(",")


def extra_args(setting: str, backbone: str, method: str, seed: int) -> list[str]:
    args = EXTRA.split() + (QUICK_BACKBONE.split() if QUICK else [])
    if (setting, backbone, seed) == ("longtail", "SASRec", seeds[0]) and method in ("base", "pte"):
        args += ["--save_items", str(pipeline.item_vectors_path(DATA, backbone, setting, method))]  # the figure
    return args


runs = pipeline.plan_runs(settings, backbones, methods_of, seeds, extra_args)
stages = [s for s in pipeline.needed(((a, r.setting) for r in runs for a in r.reads.values()), DATA) if s.llm]
done_runs = pipeline.completed_runs(DATA, tag)   # this checkout's; the shipped results lines do not count
free = [r for r in runs if not r.needs(DATA)]
print(f"2. LLM side: {', '.join(s.name for s in stages) or 'nothing needed'}", flush=True)
print(f"3. {len(runs)} backbone runs ({sum(r.key in done_runs for r in runs)} complete), {JOBS} at a time: "
      f"the {len(free)} that wait for no LLM-side stage run beside it", flush=True)
failed = pipeline.execute(DATA, stages, runs, done_runs, run, tag=tag, jobs=JOBS, quick=QUICK, seed=LLM_SEED,
                          say=say)

# ---- 4. tables and figures (from results lines only)
print("4. tables and figures", flush=True)
from pte.figures import popularity_groups  # noqa: E402

rows = load_results(DATA)
shown = METHODS if METHODS in ("paper", "all") else f"paper,{METHODS}"   # the paper's layout + what ran
written = []
for latex in (False, True):
    ext = "tex" if latex else "md"
    t3 = results_path(DATA).with_name(f"{Path(DATA).name}_{tag}_table3.{ext}")
    t4 = results_path(DATA).with_name(f"{Path(DATA).name}_{tag}_table4.{ext}")
    t3.write_text(table3(rows, tag, latex, shown))
    t4.write_text("\n".join(table4(rows, mode, b, tag, latex, shown) for b in backbones for mode in ("sampled", "full")))
    written += [t3, t4]
fig = popularity_groups(rows, IMG / f"{Path(DATA).name}_{tag}_popularity.png", tag, shown)
item_emb = pipeline.artifact_path(DATA, "item_profile", "longtail")
views = {"ID (SASRec, base)": pipeline.item_vectors_path(DATA, "SASRec", "longtail", "base"),
         "LLM (item text, MiniLM)": pipeline.artifact_path(DATA, "item_text", "longtail"),
         "LLM profile (SmolLM2 -> MiniLM)": item_emb,
         "PtE (SASRec, pte)": pipeline.item_vectors_path(DATA, "SASRec", "longtail", "pte")}
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
times = json.loads(times_path.read_text()) if times_path.exists() else {}
print(f"done in {(time.perf_counter() - t_start) / 60:.1f} min (this invocation); "
      f"sum of stage times, all invocations (parallel runs counted one by one): {sum(times.values()) / 60:.1f} min")
print("artifacts:")
print(f"  results lines   {results_path(DATA)} (tag '{tag}')")
for p in written:
    print(f"  table           {p}")
for f in (fig, fig2):
    if f:
        print(f"  figure          {f}")
if not SHIPPED:   # restored profiles train no adapter
    print(f"  adapters        {pipeline.stage_dir(DATA, pipeline.LLM_SETTING) / 'adapters'}")
print(f"  profiles        {out}/<setting>/profiles")
print(f"  embeddings      {out}/<setting>/embeddings")
print(f"  logs, times     {logs}, {times_path}")
if failed:
    raise SystemExit(f"error: {len(failed)} backbone run(s) failed: {', '.join(failed)}; their logs are in {logs}. "
                     f"Rerun this command after fixing the cause: completed runs are skipped")
