"""Scaling: wall time and peak memory of each pipeline step on two datasets side by side, and
what the whole pipeline would take on the larger one and on a 10M-interaction dataset.

    python bench/bench_scaling.py                       # ml-100k vs ml-1m, every step (~20 min on 2 idle cores, estimated)
    python bench/bench_scaling.py --ship true           # the same, and append the rows to results/scaling.jsonl
    python bench/bench_scaling.py --datasets ml-100k --steps prepare,align                 # smoke runs
    python bench/bench_scaling.py --datasets ml-100k --steps backbones --backbones BiasMF --settings longtail --fraction 0.05

Each step is the script a user runs, started as a child process: its time is the wall clock
around it, its memory the child's peak resident set (os.wait4's ru_maxrss: that process and any
children it waited for), so the numbers are what a user would see, start-up included.

  prepare    data/prepare.py --data D --force true --name D-scaling: the folder is rebuilt from the
             source (splits of both settings, item_text.npy) into data/D-scaling/, deleted afterwards
  backbones  base_models/B/Main.py --data D --setting S --epochs 1 --eval full, per backbone and
             setting; its results line gives train_seconds (the training loop of the epoch alone:
             pte.experiment.fit times train_epoch, not the validation after it) and eval_seconds
             (one evaluation of the test rows, every mode the setting has: longtail full + sampled)
  align      llm/align.py --setting longtail --item_emb data/D/item_text.npy --user_emb none --epochs 1,
             once per ALIGN_NEGATIVES (0: InfoNCE over every item, the recipe; K: over sampled candidates):
             the item text embeddings stand in for the item profiles (same rows, same kind of
             vectors); the recipe's longtail alignment also has a user side, this has none
  profiles   llm/lora/inference_base_item.py --adapter none --limit N: N item profiles by the base
             model (the adapter changes the weights, not the cost), given per 100 profiles, scaled
             from N (one batch of N; the recipe batches 64, so per profile this is likely an upper bound)

Results, outputs and logs go to a temporary folder (PTE_RESULTS, PTE_OUTPUTS), so data/D,
results/ and outputs/ are untouched; --ship true appends the measured rows to
results/scaling.jsonl. With --fraction < 1 the backbone runs evaluate part of the rows: a smoke
test, not a measurement.

Projection: the pipeline reproduce.py runs with its defaults (its runs and the LLM-side stages
they need, from pte/pipeline.py), one step after another, from the measured unit costs: a
backbone run = start-up + E x (train epoch + validation) + validation and test at the end, with E
the epochs the same runs took on EPOCHS_FROM (the shipped results lines) or the recipe's EPOCHS
(--epoch_basis max); every method costs what Base does; profiles = per profile x (items + users
per user-side stage) + each stage's fixed part; the Profile stage's training (teacher, SFT, GRPO)
is not measured and taken from RESULTS.md (FIXED_LLM_MINUTES). For TARGET_INTERACTIONS each unit
cost is extrapolated along the power law through the two largest datasets (exponent clamped to
[0, MAX_EXPONENT]), each peak along the straight line through them (memory = base + per
interaction). A GPU estimate is printed only with the GPU_SPEEDUP_* factors: assumptions the user
types in, nothing measured.
"First thing to break" is a heuristic: the step whose projected peak exceeds this machine's
memory, else the part of the projected pipeline that takes longest.
"""
from __future__ import annotations

import ast
import contextlib
import datetime as dt
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pte.config import apply_overrides
from pte.paths import ROOT

DATASETS = "ml-100k,ml-1m"      # prepared datasets (data/<name>/), smallest first; ratios are last / first
STEPS = "prepare,backbones,align,profiles"   # which steps to measure (any of these, comma-separated)
BACKBONES = "SASRec,DreamRec,BiasMF"
SETTINGS = "longtail,coldstart"  # both for every backbone: ~6 runs of 1-3 min each on ml-1m, affordable
FRACTION = 1.0                  # < 1: backbone runs evaluate a random part of the rows, and BiasMF coldstart trains on
                                # part of its samples (pte.splits.subsample_users): smoke tests, not a measurement
ALIGN_NEGATIVES = "0,1024"      # llm/align.py --negatives measured (0: every item, the recipe; K: sampled candidates)
PROFILES = 32                   # item profiles generated per dataset (SmolLM2 on a CPU: a few seconds each)
THREADS = 1                     # torch threads of every step (OMP_NUM_THREADS): 1 as reproduce.py runs backbones
                                # (and its LLM lane on 2 cores); 0 = the scripts' default, all cores (oversubscribed on
                                # a busy machine: BiasMF's epoch took 60x longer here)
TIMEOUT = 1800                  # seconds a step may run before it is killed (its row then says timeout)
SCRATCH = "-scaling"            # prepare writes data/<d><SCRATCH>/ and the benchmark deletes it afterwards
TARGET_INTERACTIONS = 10_000_000  # the size the pipeline is projected to (besides every measured dataset)
TARGET_USERS = 0                # 0 = extrapolated from the datasets' growth (MovieLens-10M: 69878)
TARGET_ITEMS = 0                # 0 = extrapolated from the datasets' growth (MovieLens-10M: 10677)
EPOCH_BASIS = "shipped"         # shipped: the epochs runs took on EPOCHS_FROM (median) | max: the recipes' EPOCHS
EPOCHS_FROM = "ml-100k"         # whose results lines / aligned sidecars give the shipped epoch counts
FIXED_LLM_MINUTES = 30.6        # teacher 1.8 + SFT (a) 6.1 + (b) 6.7 + (d) 4.1 + GRPO 11.9: the timed main job (RESULTS.md):
                                # not measured here; fixed step counts, assumed not to grow with the data
GPU_SPEEDUP_LLM = 0.0           # > 0: add a GPU column, LLM-side CPU time / this factor (an assumption, not measured
                                # here; one H200 measured 13-18x one CPU thread for SFT, 17-44x two threads
                                # for generation: RESULTS.md, "The Profile stage on ml-1m")
GPU_SPEEDUP_BACKBONE = 0.0      # > 0: the same for prepare and the backbone runs
MAX_EXPONENT = 2.0              # extrapolation: power laws steeper than this (or falling) are taken as noise of
                                # sub-second timings and clamped to [0, MAX_EXPONENT]
SHIP = False                    # append the measured rows to results/scaling.jsonl

_ALL_STEPS = ("prepare", "backbones", "align", "profiles")


# ---------------------------------------------------------------- one child process, measured

@dataclass
class Measured:
    """A finished child: wall seconds, peak RSS (MiB), exit code, and its output (stdout and stderr
    merged, tqdm's carriage-return redraws split into lines), each line with its second of arrival."""
    wall: float
    peak_mib: float
    rc: int
    timed_out: bool
    lines: list[tuple[float, str]] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "timeout" if self.timed_out else "ok" if self.rc == 0 else f"exit {self.rc}"

    def when(self, pattern: str, last: bool = False) -> float | None:
        """Seconds after the start at which the first (or last) line matching ``pattern`` arrived."""
        hits = [t for t, line in self.lines if re.search(pattern, line)]
        return (hits[-1] if last else hits[0]) if hits else None

    def tail(self, n: int = 15) -> str:
        return "\n".join(line for _, line in self.lines[-n:])


def _collect(fd: int, t0: float, lines: list[tuple[float, str]]) -> None:
    """Read the child's output to its end, splitting at \\n and \\r (progress bars redraw with \\r and
    end no line: a bar is stamped when its text arrives, not when the next redraw ends it)."""
    buf, since = b"", 0.0
    while chunk := os.read(fd, 65536):
        now = time.perf_counter() - t0
        *done, rest = re.split(rb"[\r\n]", chunk)
        if done:
            segments = [(since if buf else now, buf + done[0])] + [(now, p) for p in done[1:]]
            lines += [(t, p.decode(errors="replace").rstrip()) for t, p in segments if p.strip()]
            buf = b""
        if rest:
            since = since if buf else now
            buf += rest
    if buf.strip():
        lines.append((since, buf.decode(errors="replace").rstrip()))


def measure(cmd: list[str], env: dict[str, str] | None = None, timeout: float | None = None) -> Measured:
    """Run ``cmd`` from the repository root, killed after ``timeout`` seconds (default TIMEOUT); its
    peak memory comes from os.wait4 on its pid (the child's own ru_maxrss, KiB on Linux), so
    nothing else running on the machine counts. Linux carries the launching process's high-water
    mark into the child at exec, so a peak reads at least this process's own (small: no torch here)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)  # own group: a kill takes its children
    lines: list[tuple[float, str]] = []
    reader = threading.Thread(target=_collect, args=(proc.stdout.fileno(), t0, lines), daemon=True)
    reader.start()
    killed = threading.Event()

    def kill() -> None:
        killed.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    timer = threading.Timer(TIMEOUT if timeout is None else timeout, kill)  # read at call time: --timeout
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:  # Ctrl-C or the like: do not leave the step running
        kill()
        os.wait4(proc.pid, 0)
        raise
    finally:
        timer.cancel()
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4: Popen must not wait for it again
    reader.join(10)  # a grandchild still holding the pipe must not hang the benchmark
    proc.stdout.close()
    return Measured(wall, usage.ru_maxrss / 1024, proc.returncode, killed.is_set(), lines)


# ---------------------------------------------------------------- the steps

def child_env(tmp: Path) -> dict[str, str]:
    """Every step writes its results and outputs under ``tmp``; lines arrive unbuffered, to be timed."""
    env = {**os.environ, "PTE_RESULTS": str(tmp / "results"), "PTE_OUTPUTS": str(tmp / "outputs"),
           "PYTHONUNBUFFERED": "1", "WANDB_MODE": "offline"}
    if THREADS:
        env["OMP_NUM_THREADS"] = str(THREADS)
    return env


def step_row(data: str, step: str, m: Measured, **parts: Any) -> dict:
    if m.status != "ok":
        from tqdm.auto import tqdm
        tqdm.write(f"  {data} {step}: {m.status}; the output's last lines:\n{m.tail()}")
    return {"data": data, "step": step, "status": m.status, "wall_s": round(m.wall, 2),
            "peak_mib": round(m.peak_mib, 1), **{k: v for k, v in parts.items() if v is not None}}


def run_prepare(data: str, tmp: Path) -> list[dict]:
    from pte.paths import DATA as DATA_DIR
    name = Path(data).name + SCRATCH
    scratch = DATA_DIR / name
    if not SCRATCH or scratch.resolve() == (DATA_DIR / Path(data).name).resolve():
        raise SystemExit("error: --scratch must not be empty: prepare would rebuild the real folder")
    try:
        m = measure([sys.executable, "data/prepare.py", "--data", data, "--force", "true", "--name", name],
                    child_env(tmp))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return [step_row(data, "prepare", m)]


def run_backbone(data: str, backbone: str, setting: str, tmp: Path) -> list[dict]:
    """One epoch and the evaluations around it; the unit costs come from the run's results line."""
    from pte.io import read_jsonl
    tag = f"scaling-{backbone}-{setting}"
    cmd = [sys.executable, f"base_models/{backbone}/Main.py", "--data", data, "--setting", setting, "--epochs", "1",
           "--eval", "full", "--tag", tag, *(["--fraction", str(FRACTION)] if FRACTION < 1 else [])]
    m = measure(cmd, child_env(tmp))
    out = tmp / "results" / f"{Path(data).name}.jsonl"
    line = next((r for r in reversed(read_jsonl(out)) if r.get("tag") == tag), None) if out.exists() else None
    if m.status != "ok" or line is None:
        return [step_row(data, f"{backbone} {setting}", m)]
    train, ev = line["train_seconds"], line["eval_seconds"]
    # one epoch = one validation in fit, then validation and test again in finish: three evaluations
    return [step_row(data, f"{backbone} {setting}", m, train_epoch_s=train, eval_s=ev,
                     fixed_s=round(max(m.wall - train - 3 * ev, 0.0), 2))]


def run_align(data: str, tmp: Path) -> list[dict]:
    """One row per ALIGN_NEGATIVES value: "align longtail" for 0 (the recipe, which the projection
    uses), "align longtail, K negatives" otherwise."""
    from pte.paths import dataset_dir
    rows = []
    for k in (int(v) for v in str(ALIGN_NEGATIVES).split(",")):
        cmd = [sys.executable, "llm/align.py", "--data", data, "--setting", "longtail", "--negatives", str(k),
               "--item_emb", str(dataset_dir(data) / "item_text.npy"), "--user_emb", "none", "--epochs", "1"]
        m = measure(cmd, child_env(tmp))
        start, end = m.when(r"before training"), m.when(r"epoch 1:")   # fit_aligner's lines around epoch 1
        epoch = end - start if m.status == "ok" and start is not None and end is not None else None
        rows.append(step_row(data, "align longtail" + (f", {k} negatives" if k else ""), m,
                             epoch_s=epoch and round(epoch, 2), fixed_s=epoch and round(m.wall - epoch, 2)))
    return rows


def run_profiles(data: str, tmp: Path) -> list[dict]:
    name = "scaling_item_profile"
    cmd = [sys.executable, "llm/lora/inference_base_item.py", "--data", data, "--adapter", "none",
           "--limit", str(PROFILES), "--name", name, "--force", "true"]
    m = measure(cmd, child_env(tmp))
    # generation alone: from the progress bar's first draw (model loaded, prompts built) to its 100%
    start, end = m.when(rf"^{name}:\s+0%"), m.when(rf"^{name}:\s+100%", last=True)
    gen = end - start if m.status == "ok" and start is not None and end is not None else None
    return [step_row(data, "profiles", m, n_profiles=PROFILES,
                     per_100_s=round(m.wall / PROFILES * 100, 1) if m.status == "ok" else None,
                     gen_per_100_s=gen and round(gen / PROFILES * 100, 1),
                     fixed_s=gen and round(m.wall - gen, 2))]


def run_dataset(data: str, steps: list[str], tmp: Path) -> list[dict]:
    from tqdm.auto import tqdm
    from pte.data import load_dataset
    from pte.splits import settings_of
    jobs = [(s, b, st) for s in steps for b, st in ([(b, st) for b in BACKBONES.split(",")
                                                       for st in SETTINGS.split(",")] if s == "backbones" else [("", "")])]
    have = settings_of(load_dataset(data))
    rows = []
    for step, backbone, setting in tqdm(jobs, desc=data, dynamic_ncols=True):
        if step == "backbones" and setting not in have:
            tqdm.write(f"  {data} has no {setting} split: {backbone} {setting} skipped")
            continue
        new = (run_backbone(data, backbone, setting, tmp) if step == "backbones"
               else {"prepare": run_prepare, "align": run_align, "profiles": run_profiles}[step](data, tmp))
        for r in new:
            tqdm.write(f"  {data} {r['step']}: {r['status']}, {r['wall_s']:.1f} s, {r['peak_mib']:.0f} MiB")
        rows += new
    return rows


# ---------------------------------------------------------------- the side-by-side table

def size_of(data: str) -> dict[str, int]:
    from pte.io import read_json
    from pte.paths import dataset_dir
    path = dataset_dir(data) / "meta.json"
    if not path.exists():
        raise SystemExit(f"error: {path} not found; prepare it first: python data/prepare.py --data {data}")
    meta = read_json(path)
    return {"interactions": meta["n_interactions"], "users": meta["n_users"], "items": meta["n_items"]}


def ratio(a: float | str | None, b: float | str | None) -> float | None:
    """b / a, or None where either is missing (or a failed step's status) or a is zero."""
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or not a:
        return None
    return b / a


def fmt(x: float | str | None, unit: str = "") -> str:
    if x is None or isinstance(x, str):
        return x or "-"
    return f"{x:.3f}{unit}" if abs(x) < 1 else f"{x:.1f}{unit}" if abs(x) < 1000 else f"{x:,.0f}{unit}"


def table_entries(r: dict) -> list[tuple[str, str, float | str | None, float | None]]:
    """A measured row as table lines (key, label, seconds, MiB); sub-lines have seconds only, and a
    failed step shows its status in place of its time."""
    ok = r["status"] == "ok"
    step = r["step"]
    label = f"profiles: run, {r['n_profiles']} generated" if step == "profiles" else step
    out = [(step, label, r["wall_s"] if ok else r["status"], r["peak_mib"] if ok else None)]
    if "train_epoch_s" in r:
        out += [(f"{step}/train", "  train epoch (train_seconds)", r["train_epoch_s"], None),
                (f"{step}/eval", "  test evaluation (eval_seconds)", r["eval_s"], None)]
    if "epoch_s" in r:
        out += [(f"{step}/epoch", "  one epoch + its validation", r["epoch_s"], None)]
    if step == "profiles" and ok:
        out += [(f"{step}/100", f"  per 100 profiles (run / {r['n_profiles']} x 100, scaled)", r.get("per_100_s"), None),
                (f"{step}/gen", "  per 100, generation alone (scaled)", r.get("gen_per_100_s"), None)]
    return out


def print_table(datasets: list[str], rows: list[dict], sizes: dict[str, dict]) -> None:
    labels: dict[str, str] = {}
    cells: dict[str, dict[str, tuple]] = {}
    for r in rows:
        for key, label, sec, mib in table_entries(r):
            labels.setdefault(key, label)
            cells.setdefault(key, {})[r["data"]] = (sec, mib)
    first, last = datasets[0], datasets[-1]
    two = len(datasets) > 1
    head = ["step", *[f"{d} s" for d in datasets], *(["ratio"] if two else []),
            *[f"{d} MiB" for d in datasets], *(["ratio"] if two else [])]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for key, by in cells.items():
        sec = [by.get(d, (None, None))[0] for d in datasets]
        mib = [by.get(d, (None, None))[1] for d in datasets]
        cols = [labels[key], *map(fmt, sec), *([fmt(ratio(sec[0], sec[-1]), "x")] if two else []),
                *[fmt(m) if m is None else f"{m:,.0f}" for m in mib],
                *([fmt(ratio(mib[0], mib[-1]), "x")] if two else [])]
        print("| " + " | ".join(cols) + " |")
    if two:
        print(f"dataset ratios {last} / {first}: " + ", ".join(
            f"{k} {sizes[last][k] / sizes[first][k]:.1f}x ({sizes[first][k]:,} -> {sizes[last][k]:,})"
            for k in ("interactions", "users", "items")))


# ---------------------------------------------------------------- projection

def recipe(script: str, name: str, setting: str = "") -> Any:
    """A constant's default as written at the top of ``script`` (a per-setting dict: that setting's value)."""
    tree = ast.parse((ROOT / script).read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            value = ast.literal_eval(node.value)
            return value[setting] if isinstance(value, dict) else value
    raise KeyError(f"{script} has no constant {name}")


@dataclass
class Plan:
    """What reproduce.py runs with its defaults: backbone runs and the LLM-side stages they need."""
    runs: list[tuple[str, str, str]]     # (setting, backbone, method), once per seed
    generate: list[str]                  # "item" / "user": one profile-generation stage each
    align: list[str]                     # settings whose profiles are aligned
    train: list[str]                     # the other LLM-side stages (teacher, SFT, GRPO): not measured


def default_plan() -> Plan:
    from pte import pipeline
    from pte.tables import METHOD_ORDER, paper_methods
    methods = recipe("reproduce.py", "METHODS")

    def methods_of(setting: str, backbone: str) -> list[str]:  # as reproduce.py's methods_of
        return (paper_methods(setting, backbone) if methods == "paper" else list(METHOD_ORDER) if methods == "all"
                else methods.split(","))

    seeds = [2024 + k for k in range(recipe("reproduce.py", "SEEDS"))]
    runs = pipeline.plan_runs(recipe("reproduce.py", "SETTINGS").split(","), recipe("reproduce.py", "BACKBONES").split(","),
                              methods_of, seeds)
    stages = [s for s in pipeline.needed((a, r.setting) for r in runs for a in r.reads.values()) if s.llm]
    plan = Plan([(r.setting, r.backbone, r.method) for r in runs], [], [], [])
    for s in stages:
        if "inference" in s.script:
            plan.generate.append("item" if s.outputs[0][0].startswith("item") else "user")
        elif s.script == "llm/align.py":
            plan.align += sorted(s.settings)
        else:
            plan.train.append(s.name)
    return plan


def shipped_epochs() -> tuple[dict[tuple, list[int]], dict[str, int]]:
    """Epochs the runs of EPOCHS_FROM took: per (setting, backbone, method) from its results lines, and
    per setting from the aligned item profiles' sidecar (its history: epoch 0 and every epoch run)."""
    from pte.io import read_json
    from pte.pipeline import artifact_path
    from pte.results import load_results
    runs: dict[tuple, list[int]] = {}
    lines = load_results(EPOCHS_FROM)
    main = [r for r in lines if r.get("tag") == "main"] or lines
    for r in main:
        runs.setdefault((r["setting"], r["backbone"], r["method"]), []).append(r["epochs_run"])
    align = {}
    for s in ("coldstart", "longtail"):
        side = artifact_path(EPOCHS_FROM, "item_profile_aligned", s).with_suffix(".json")
        if side.exists():
            align[s] = len(read_json(side).get("history", [])) - 1
    return runs, align


def epochs_of(run: tuple[str, str, str], shipped: dict[tuple, list[int]]) -> float:
    setting, backbone, method = run
    if EPOCH_BASIS == "shipped":
        same = shipped.get(run) or [e for (s, b, _), v in shipped.items() if (s, b) == (setting, backbone) for e in v]
        if same:
            return statistics.median(same)
    return recipe(f"base_models/{backbone}/Main.py", "EPOCHS", setting)


def units_of(rows: list[dict]) -> dict[str, float]:
    """The unit costs (seconds) one dataset's rows give, keyed by step and part."""
    u = {}
    for r in rows:
        if r["status"] != "ok":
            continue
        if r["step"] == "prepare":
            u["prepare"] = r["wall_s"]
        elif "train_epoch_s" in r:
            for part in ("train_epoch_s", "eval_s", "fixed_s"):
                u[f"{r['step']}:{part}"] = r[part]
        elif r["step"] == "align longtail" and "epoch_s" in r:
            u["align:epoch_s"], u["align:fixed_s"] = r["epoch_s"], r["fixed_s"]
        elif r["step"] == "profiles":
            if "gen_per_100_s" in r:
                u["profile:each_s"], u["profile:fixed_s"] = r["gen_per_100_s"] / 100, r["fixed_s"]
            else:  # no progress bar seen: the whole run counts as generation (an upper bound)
                u["profile:each_s"], u["profile:fixed_s"] = r["wall_s"] / r["n_profiles"], 0.0
    return u


def power_law(x0: float, y0: float, x1: float, y1: float, x: float) -> float:
    """y at x on the line through (x0, y0) and (x1, y1) in log-log space, its exponent clamped."""
    if min(x0, x1, y0, y1) <= 0 or x0 == x1:
        return y1 * x / x1 if x1 > 0 else y1   # nothing to fit: proportional
    a = min(max(math.log(y1 / y0) / math.log(x1 / x0), 0.0), MAX_EXPONENT)
    return y1 * (x / x1) ** a


def affine(x0: float, y0: float, x1: float, y1: float, x: float) -> float:
    """y at x on the straight line through the two points, never falling (memory = base + slope x)."""
    slope = max((y1 - y0) / (x1 - x0), 0.0) if x1 != x0 else 0.0
    return y1 + slope * (x - x1)


def extrapolate(units: dict[str, dict[str, float]], sizes: dict[str, dict], datasets: list[str],
                target: float) -> dict[str, float]:
    """Every unit cost at ``target`` interactions, along the power law through the two largest datasets."""
    d0, d1 = sorted(datasets, key=lambda d: sizes[d]["interactions"])[-2:]
    x0, x1 = sizes[d0]["interactions"], sizes[d1]["interactions"]
    return {k: power_law(x0, units[d0][k], x1, units[d1][k], target)
            for k in units[d1] if k in units[d0]}


def target_size(sizes: dict[str, dict], datasets: list[str]) -> dict[str, float]:
    d0, d1 = sorted(datasets, key=lambda d: sizes[d]["interactions"])[-2:]
    x0, x1 = sizes[d0]["interactions"], sizes[d1]["interactions"]
    out = {"interactions": TARGET_INTERACTIONS}
    for k, given in (("users", TARGET_USERS), ("items", TARGET_ITEMS)):
        out[k] = given or power_law(x0, sizes[d0][k], x1, sizes[d1][k], TARGET_INTERACTIONS)
    return out


def pipeline_parts(u: dict[str, float], size: dict, plan: Plan, shipped: tuple) -> dict[str, float | None]:
    """Seconds of each part of the default pipeline from one dataset's unit costs (None: not measured)."""
    runs_epochs, align_epochs = shipped
    parts: dict[str, float | None] = {"prepare": u.get("prepare")}
    parts["Profile-stage training (RESULTS.md, not measured)"] = FIXED_LLM_MINUTES * 60 if plan.train else 0.0
    parts[f"profiles ({' + '.join(plan.generate)})"] = sum(
        u["profile:fixed_s"] + u["profile:each_s"] * size["items" if k == "item" else "users"]
        for k in plan.generate) if "profile:each_s" in u else None
    parts[f"alignment ({', '.join(plan.align)})"] = sum(
        u["align:fixed_s"] + u["align:epoch_s"] * align_epochs_of(s, align_epochs)
        for s in plan.align) if "align:epoch_s" in u else None
    total, missing = 0.0, 0
    for run in plan.runs:
        key = f"{run[1]} {run[0]}"
        if f"{key}:train_epoch_s" not in u:
            missing += 1
            continue
        ev = u[f"{key}:eval_s"]
        total += u[f"{key}:fixed_s"] + epochs_of(run, runs_epochs) * (u[f"{key}:train_epoch_s"] + ev) + 2 * ev
    parts[f"backbone runs ({len(plan.runs)})"] = total if missing < len(plan.runs) else None
    if 0 < missing < len(plan.runs):   # a row of its own, so the total shows it is a lower bound
        parts[f"backbone runs not measured ({missing})"] = None
    return parts


def align_epochs_of(setting: str, shipped: dict[str, int]) -> int:
    if EPOCH_BASIS == "shipped" and setting in shipped:
        return shipped[setting]
    return recipe("llm/align.py", "EPOCHS")


def minutes(sec: float | None) -> str:
    if sec is None:
        return "n/a"
    return f"{sec / 60:.1f} min" if sec < 5400 else f"{sec / 3600:.1f} h"


def print_projection(datasets: list[str], rows: list[dict], sizes: dict[str, dict]) -> dict[str, Any]:
    plan, shipped = default_plan(), shipped_epochs()
    units = {d: units_of([r for r in rows if r["data"] == d]) for d in datasets}
    columns = {d: pipeline_parts(units[d], sizes[d], plan, shipped) for d in datasets}
    if len(datasets) > 1:
        tsize = target_size(sizes, datasets)
        name = f"{TARGET_INTERACTIONS / 1e6:g}M interactions"
        sizes = {**sizes, name: tsize}
        columns[name] = pipeline_parts(extrapolate(units, sizes, datasets, TARGET_INTERACTIONS), tsize, plan, shipped)
    n_gen = ", ".join(f"{k}s" for k in plan.generate)
    print(f"\nProjected wall time of reproduce.py's default pipeline, one step after another on this machine "
          f"({len(plan.runs)} backbone runs; profile stages: {n_gen}; epochs: "
          f"{'as the runs of ' + EPOCHS_FROM + ' took (median; shipped results)' if EPOCH_BASIS == 'shipped' else 'the recipes EPOCHS (upper bound)'}):")
    names = list(columns)
    print("| part | " + " | ".join(names) + " |\n|" + "---|" * (len(names) + 1))
    labels = list(dict.fromkeys(k for c in columns.values() for k in c))
    totals = {n: sum(v for v in columns[n].values() if v) for n in names}
    for label in labels:
        print(f"| {label} | " + " | ".join(minutes(columns[n].get(label)) for n in names) + " |")
    print("| **total** | " + " | ".join(("≥ " if any(v is None for v in columns[n].values()) else "") +
                                         minutes(totals[n]) for n in names) + " |")
    print("  sizes: " + "; ".join(f"{n}: {sizes[n]['interactions']:,.0f} interactions, {sizes[n]['users']:,.0f} users, "
                                  f"{sizes[n]['items']:,.0f} items" for n in names))
    print("  assumptions: every method's run costs what Base's does on its backbone and setting; validation costs what "
          "test does; a user profile costs what an item profile does; the longtail alignment's user side is free; "
          "reproduce.py overlaps backbone runs with the LLM side (JOBS at a time), so its wall time is lower"
          + ("; the last column extrapolates each unit cost" if len(datasets) > 1 else ""))
    gpu_columns(columns)
    return {"columns": columns, "sizes": sizes}


def gpu_columns(columns: dict[str, dict]) -> None:
    if not (GPU_SPEEDUP_LLM > 0 or GPU_SPEEDUP_BACKBONE > 0):
        return
    def on_gpu(label: str, sec: float) -> float:
        backbone = label.startswith(("prepare", "backbone"))
        k = GPU_SPEEDUP_BACKBONE if backbone else GPU_SPEEDUP_LLM
        return sec / k if k > 0 else sec
    print(f"  ASSUMED GPU (not measured: CPU projection / {GPU_SPEEDUP_LLM:g} for the LLM side, "
          f"/ {GPU_SPEEDUP_BACKBONE:g} for prepare and backbones; 0 = unchanged): " + "; ".join(
              f"{n} {minutes(sum(on_gpu(k, v) for k, v in c.items() if v))}" for n, c in columns.items()))


def peak_projection(datasets: list[str], rows: list[dict], sizes: dict[str, dict]) -> dict[str, float]:
    """Each step's peak MiB at the largest size: measured, or at the target along the line through two datasets."""
    peaks = {d: {r["step"]: r["peak_mib"] for r in rows if r["data"] == d and r["status"] == "ok"} for d in datasets}
    if len(datasets) < 2:
        return peaks[datasets[-1]]
    d0, d1 = sorted(datasets, key=lambda d: sizes[d]["interactions"])[-2:]
    x0, x1 = sizes[d0]["interactions"], sizes[d1]["interactions"]
    return {s: affine(x0, peaks[d0][s], x1, m, TARGET_INTERACTIONS) for s, m in peaks[d1].items() if s in peaks[d0]}


def first_to_break(columns: dict[str, dict], peaks: dict[str, float], ram_mib: float) -> str:
    """A heuristic: the first step whose projected peak exceeds this machine's memory, else the largest time."""
    where = list(columns)[-1]
    over = sorted(((m, s) for s, m in peaks.items() if m > ram_mib), reverse=True)
    if over:
        m, s = over[0]
        return f"{s} at {where}: projected peak {m / 1024:.1f} GiB > {ram_mib / 1024:.1f} GiB of memory here"
    parts = {k: v for k, v in columns[where].items() if v and "not measured" not in k}  # measured parts only
    if not parts:
        return "nothing measured"
    part, sec = max(parts.items(), key=lambda kv: kv[1])
    top = max(peaks.items(), key=lambda kv: kv[1]) if peaks else ("-", 0.0)
    total = sum(v for v in columns[where].values() if v)
    return (f"time, not memory: {part} takes {minutes(sec)} at {where} ({sec / total:.0%} of the projected "
            f"pipeline); the largest peak, {top[0]}, reaches {top[1] / 1024:.1f} GiB of "
            f"{ram_mib / 1024:.1f} GiB")


# ---------------------------------------------------------------- main

def ship(rows: list[dict], sizes: dict[str, dict]) -> None:
    from pte.io import append_jsonl
    from pte.paths import RESULTS
    stamp = dt.datetime.now().isoformat(timespec="seconds")
    path = RESULTS / "scaling.jsonl"
    for r in rows:
        append_jsonl(path, {**r, **{f"n_{k}": v for k, v in sizes[r["data"]].items()}, "threads": THREADS,
                            "cpus": os.cpu_count(), "fraction": FRACTION, "time": stamp})
    print(f"{len(rows)} rows appended to {path}")


def main() -> None:
    apply_overrides(globals(), choices={"EPOCH_BASIS": ("shipped", "max")})
    datasets = [d.strip() for d in DATASETS.split(",") if d.strip()]
    steps = [s.strip() for s in STEPS.split(",") if s.strip()]
    if set(steps) - set(_ALL_STEPS):
        raise SystemExit(f"error: --steps: unknown {sorted(set(steps) - set(_ALL_STEPS))}; choose from {_ALL_STEPS}")
    sizes = {d: size_of(d) for d in datasets}
    ram_mib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 20
    print(f"{', '.join(datasets)}: steps {', '.join(steps)}; {os.cpu_count()} CPUs, {ram_mib / 1024:.1f} GiB, load "
          f"average {os.getloadavg()[0]:.1f}; threads {THREADS or 'the scripts default'}"
          + (f"; FRACTION {FRACTION}: backbone evaluations on part of the rows, not a measurement" if FRACTION < 1 else ""),
          flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="pte-scaling-") as tmp:
        for d in datasets:
            rows += run_dataset(d, steps, Path(tmp))
    print()
    print_table(datasets, rows, sizes)
    proj = print_projection(datasets, rows, sizes)
    peaks = peak_projection(datasets, rows, sizes)
    print(f"first thing to break (heuristic, from the projection): {first_to_break(proj['columns'], peaks, ram_mib)}")
    if SHIP:
        ship(rows, sizes)


if __name__ == "__main__":
    main()
