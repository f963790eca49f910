"""The PtE pipeline, declared once: where every artifact lives, the stages that make them,
the backbones, and the order runs are scheduled in.

    outputs/<data>/<setting>/                  setting: both | longtail | coldstart
      teacher/{users,items}.jsonl              teacher profiles (training targets)
      train_data/<stage>.jsonl                 every training example, for inspection
      adapters/<stage>/                        LoRA adapters (+ pte_stage.json, loss/reward curves)
      profiles/<name>.jsonl                    generated profiles (+ <name>.partial.jsonl while running)
      embeddings/<name>.npy + .json            row i = internal id i; sidecar: encoder, ids, setting, fallbacks
      embeddings/<name>_aligned.npy + .json    the same after llm/align.py (per backbone setting)
    data/<data>/item_text.npy                  MiniLM over each item's text (data/prepare.py)

The Profile stage trains on the interactions that are training interactions in *both*
settings (LLM_SETTING), so one set of adapters and item profiles serves both; user profiles
and the aligned files are per backbone setting. Every script asks this module for paths,
``reproduce.py`` and ``llm/run_stage.py`` loop over STAGES, and backbone runs are
scheduled after the stages that make what their method reads (``Representation.reads``).
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from pte.io import append_jsonl, read_jsonl, write_json
from pte.paths import RESULTS, ROOT, dataset_dir, outputs_root

LLM_SETTING = "both"        # the Profile stage's training interactions (pte.llm.data.LLM_SETTINGS)
EVAL_SETTINGS = ("coldstart", "longtail")

# ---------------------------------------------------------------- paths


def outputs_dir(data: str) -> Path:
    """Per-dataset artifacts of the Profile and embedding stages."""
    return outputs_root() / Path(data).name


def stage_dir(data: str, setting: str) -> Path:
    return outputs_dir(data) / setting


def teacher_path(data: str, setting: str, kind: str) -> Path:
    return stage_dir(data, setting) / "teacher" / f"{kind}s.jsonl"


def adapter_dir(data: str, setting: str, stage: str) -> Path:
    return stage_dir(data, setting) / "adapters" / stage


def train_data_path(data: str, setting: str, name: str) -> Path:
    return stage_dir(data, setting) / "train_data" / f"{name}.jsonl"


def profile_path(data: str, setting: str, name: str) -> Path:
    return stage_dir(data, setting) / "profiles" / f"{name}.jsonl"


def embedding_path(data: str, setting: str, name: str) -> Path:
    """outputs/<data>/<setting>/embeddings/<name>.npy (its sidecar: <name>.json)."""
    return stage_dir(data, setting) / "embeddings" / f"{name.removesuffix('.npy')}.npy"


def aligned_name(name: str) -> str:
    """What llm/align.py calls the aligned version of embedding file ``name``."""
    return f"{name}_aligned"


def runs_done_path(data: str, tag: str) -> Path:
    """The backbone runs this checkout has completed under ``tag`` (the resume state of reproduce.py;
    the shipped results lines are evidence, not resume state: a fresh clone reruns and appends)."""
    return outputs_dir(data) / "runs" / f"{tag}.jsonl"


def completed_runs(data: str, tag: str) -> set[tuple]:
    path = runs_done_path(data, tag)
    return {tuple(r["run"]) for r in read_jsonl(path)} if path.exists() else set()


def shipped_copy(data: str, path: Path, tag: str = "main") -> Path:
    """Where results/ ships a copy of profile file ``path`` of outputs/ (bench/bench_profiles.py --ship):
    results/<data>_profiles[_<tag>]/<setting>_<folder>_<name>.jsonl, e.g. both_profiles_item_profile.jsonl
    (.jsonl.gz where that is what ships)."""
    folder = RESULTS / (f"{Path(data).name}_profiles" + ("" if tag == "main" else f"_{tag}"))
    plain = folder / f"{path.parent.parent.name}_{path.parent.name}_{path.stem}.jsonl"
    packed = plain.with_name(plain.name + ".gz")   # what --ship writes for a file over SHIP_MAX_BYTES
    return packed if packed.exists() and not plain.exists() else plain


SHIP_MAX_BYTES = 2_000_000   # a shipped profile file larger than this is committed gzip-compressed


def item_vectors_path(data: str, backbone: str, setting: str, method: str) -> Path:
    """Trained item vectors a backbone run saves for the ID / LLM / PtE figure."""
    return outputs_dir(data) / "item_vectors" / f"{backbone}_{setting}_{method}.npy"


# ---------------------------------------------------------------- artifacts
# An artifact is a name; its file depends on the dataset and the backbone setting that reads it.

ARTIFACTS = {  # name: (where, what it is)
    "item_text": ("data", "MiniLM embeddings of the items' own text (no LLM)"),
    "teacher_users": ("llm", "teacher user profiles"),
    "teacher_items": ("llm", "teacher item profiles"),
    "user_profile_kd": ("setting", "user profiles after (a)"),
    "item_profile": ("llm", "item profiles after (d), shared by both settings"),
    "user_profile": ("setting", "user profiles after (b) + (c), per setting"),
    "item_profile_aligned": ("setting", "item profiles after the task alignment"),
    "user_profile_aligned": ("setting", "user profiles after the task alignment"),
}
ADAPTER = "adapter/"        # "adapter/<stage>": a LoRA adapter of the Profile stage


def artifact_path(data: str, name: str, setting: str) -> Path:
    """The file (or folder, for adapters) behind artifact ``name`` for a run in ``setting``."""
    if name.startswith(ADAPTER):
        return adapter_dir(data, LLM_SETTING, name[len(ADAPTER):])
    if name not in ARTIFACTS:
        raise KeyError(f"unknown artifact {name!r}; known: {', '.join(ARTIFACTS)}, {ADAPTER}<stage>")
    where = ARTIFACTS[name][0]
    if where == "data":
        return dataset_dir(data) / f"{name}.npy"
    if name.startswith("teacher_"):
        return teacher_path(data, LLM_SETTING, name.removeprefix("teacher_").removesuffix("s"))
    return embedding_path(data, LLM_SETTING if where == "llm" else setting, name)


def artifact_done(path: Path) -> bool:
    """Whether an artifact is complete: its completion marker exists (written last, atomically)."""
    if path.suffix == ".npy":
        return path.exists() and path.with_suffix(".json").exists()
    if path.suffix == ".jsonl":
        return path.exists() and not list(path.parent.glob(path.stem + ".partial*"))
    return (path / "pte_stage.json").exists()   # an adapter folder


# ---------------------------------------------------------------- stages


@dataclass(frozen=True)
class Stage:
    """One script run: it reads ``inputs`` and is complete when its ``outputs`` exist."""
    name: str
    script: str
    args: tuple[str, ...]
    inputs: tuple[str, ...]
    outputs: tuple[tuple[str, str], ...]        # (artifact, setting)
    quick: tuple[str, ...] = ()                 # extra arguments in CI-sized runs
    llm: bool = True                            # part of the LLM side (one lane, in table order)

    def command(self, data: str, quick: bool = False, seed: int = 0) -> list[str]:
        """The stage's command line; ``seed`` (the Profile-stage seed) goes to every LLM-side script."""
        return [self.script, "--data", data, *self.args, *(self.quick if quick else ()),
                *(["--seed", str(seed)] if seed and self.llm else [])]

    def done(self, data: str) -> bool:
        return all(artifact_done(artifact_path(data, a, s)) for a, s in self.outputs)

    @property
    def settings(self) -> set[str]:
        """The backbone settings whose files it writes (empty: shared by all)."""
        return {s for _, s in self.outputs if s}


_LLM = ("--setting", LLM_SETTING)
_SFT_QUICK = ("--steps", "1", "--batch_size", "1")
_GEN_QUICK = ("--limit", "4")
STAGES = (
    Stage("prepare", "data/prepare.py", (), (), (("item_text", ""),), llm=False),
    Stage("teacher", "llm/teacher.py", _LLM, (), (("teacher_users", ""), ("teacher_items", "")),
          quick=("--n_users", "4", "--n_items", "4", "--max_new_tokens", "24")),
    Stage("sft_base (a)", "llm/lora/sft_base.py", _LLM, ("teacher_users",), (("adapter/sft_base", ""),),
          quick=_SFT_QUICK),
    Stage("sft_base_mask (b)", "llm/lora/sft_base_mask.py", _LLM, ("adapter/sft_base",),
          (("adapter/sft_base_mask", ""),), quick=_SFT_QUICK),
    Stage("sft_base_item (d)", "llm/lora/sft_base_item.py", _LLM, ("teacher_items", "adapter/sft_base_mask"),
          (("adapter/sft_base_item", ""),), quick=_SFT_QUICK),
    Stage("rl_training (c, GRPO)", "llm/lora/rlhf/rl_training.py", _LLM, ("adapter/sft_base_mask",),
          (("adapter/grpo", ""),),
          quick=("--steps", "1", "--n_train_users", "2", "--n_eval_users", "2", "--batch_size", "2",
                 "--num_generations", "2", "--grad_accum", "1", "--max_completion", "16")),
    Stage("inference_base_item", "llm/lora/inference_base_item.py", _LLM, ("adapter/sft_base_item",),
          (("item_profile", ""),), quick=_GEN_QUICK),
    Stage("inference_base (longtail)", "llm/lora/inference_base.py", ("--setting", "longtail"),
          ("adapter/sft_base",), (("user_profile_kd", "longtail"),), quick=_GEN_QUICK),
    Stage("inference_base_mask (longtail)", "llm/lora/inference_base_mask.py", ("--setting", "longtail"),
          ("adapter/grpo",), (("user_profile", "longtail"),), quick=_GEN_QUICK),
    Stage("align (coldstart)", "llm/align.py", ("--setting", "coldstart"), ("item_profile",),
          (("item_profile_aligned", "coldstart"),), quick=("--epochs", "2", "--batch_size", "4096")),
    Stage("align (longtail)", "llm/align.py", ("--setting", "longtail"), ("item_profile", "user_profile"),
          (("item_profile_aligned", "longtail"), ("user_profile_aligned", "longtail")),
          quick=("--epochs", "1", "--batch_size", "4096")),
)


def stage(name: str) -> Stage:
    for s in STAGES:
        if s.name == name or s.name.split(" ")[0] == name:
            return s
    raise KeyError(f"unknown stage {name!r}; stages: {', '.join(s.name for s in STAGES)}")


def maker(artifact: str, setting: str) -> Stage:
    """The stage that writes ``artifact`` for ``setting``."""
    where = "" if artifact.startswith(ADAPTER) or ARTIFACTS[artifact][0] in ("data", "llm") else setting
    for s in STAGES:
        if (artifact, where) in s.outputs:
            return s
    raise KeyError(f"no stage writes {artifact!r}" + (f" for {setting}" if where else ""))


def needed(artifacts: Iterable[tuple[str, str]], data: str | None = None) -> list[Stage]:
    """Every stage needed to make ``artifacts`` ((name, setting) pairs), in table order. With ``data``,
    the walk stops at artifacts already complete there: what made them is not needed again (e.g.
    profiles restored from the shipped texts need no adapters)."""
    todo, seen = list(artifacts), set()
    while todo:
        name, setting = todo.pop()
        s = maker(name, setting)
        if s.name not in seen and not (data and s.done(data)):
            seen.add(s.name)
            todo += [(a, setting) for a in s.inputs]
    return [s for s in STAGES if s.name in seen]


# ---------------------------------------------------------------- backbones and runs

BACKBONES = {  # name: its Main.py; adding a backbone = its folder + one line here
    "SASRec": "base_models/SASRec/Main.py",
    "DreamRec": "base_models/DreamRec/Main.py",
    "BiasMF": "base_models/BiasMF/Main.py",
}


@dataclass
class Run:
    """One backbone run and the Profile-stage artifacts its method reads (option -> artifact)."""
    setting: str
    backbone: str
    method: str
    seed: int
    reads: dict[str, str] = field(default_factory=dict)
    extra: tuple[str, ...] = ()

    @property
    def key(self) -> tuple:
        return self.setting, self.backbone, self.method, self.seed

    def name(self, tag: str = "") -> str:
        return f"{self.backbone} {self.setting} {self.method} seed {self.seed}" + (f" [{tag}]" if tag else "")

    def needs(self, data: str | None = None) -> list[Stage]:
        """The stages that must finish before this run starts (never "prepare": it runs first);
        with ``data``, none behind artifacts already complete there."""
        return [s for s in needed(((a, self.setting) for a in self.reads.values()), data) if s.llm]

    def command(self, data: str, tag: str) -> list[str]:
        if self.backbone not in BACKBONES:
            raise KeyError(f"unknown backbone {self.backbone!r}; registered: {', '.join(BACKBONES)} "
                           f"(pte/pipeline.py BACKBONES)")
        files = [a for opt, name in self.reads.items()
                 for a in (f"--{opt}", str(artifact_path(data, name, self.setting)))]
        return [BACKBONES[self.backbone], "--data", data, "--setting", self.setting, "--method", self.method,
                "--seed", str(self.seed), "--tag", tag, *files, *self.extra]


def plan_runs(settings: Iterable[str], backbones: Iterable[str], methods: Callable[[str, str], list[str]],
              seeds: Iterable[int], extra: Callable[[str, str, str, int], list[str]] = lambda *a: []) -> list[Run]:
    """Every (setting, backbone, method, seed) run, each with what its method reads."""
    from pte.reps import method_class
    runs = []
    for s in settings:
        for b in backbones:
            if b not in BACKBONES:
                raise SystemExit(f"error: unknown backbone {b!r}; registered in pte/pipeline.py: {', '.join(BACKBONES)}")
            for m in methods(s, b):
                cls = method_class(m)
                if cls.backbones is not None and b not in cls.backbones:
                    continue
                runs += [Run(s, b, m, seed, cls.reads(s), tuple(extra(s, b, m, seed))) for seed in seeds]
    return runs


# ---------------------------------------------------------------- execution

Runner = Callable[[str, list[str], int], None]   # (name, command, torch threads or 0) -> raises SystemExit


def subprocess_runner(logs: Path, env: dict, times_path: Path, say: Callable[[str], None]) -> Runner:
    """Run a script with the repository's Python, its output in logs/<name>.log, its time kept in
    ``times_path`` (JSON, name -> seconds); a failure raises SystemExit with the log's tail."""
    lock = threading.Lock()
    logs.mkdir(parents=True, exist_ok=True)

    def run(name: str, command: list[str], threads: int) -> None:
        log = logs / (re.sub(r"[^\w.-]+", "_", name).strip("_") + ".log")
        t0 = time.perf_counter()
        e = {**env, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
        with open(log, "w") as f:
            rc = subprocess.run([sys.executable, *command], cwd=ROOT, env=e, stdout=f,
                                stderr=subprocess.STDOUT).returncode
        sec = time.perf_counter() - t0
        if rc != 0:
            tail = "".join(log.read_text(errors="replace").splitlines(True)[-25:])
            raise SystemExit(f"{tail}\nerror: stage {name} failed (exit {rc}); full log: {log}\n"
                             f"fix the cause and rerun this command: finished stages are kept")
        with lock:
            times = json.loads(times_path.read_text()) if times_path.exists() else {}
            if name not in times or sec > 2:  # an up-to-date "prepare" keeps the time of the run that built the data
                times[name] = round(sec, 1)
                write_json(times_path, times)
        where = log.relative_to(ROOT) if log.is_relative_to(ROOT) else log
        say(f"  {name:34s} {sec / 60:5.1f} min  (log {where})")
    return run


def _cause(e: SystemExit) -> str:
    """The one-line cause of a failed stage (the runner's message ends with it and the way out)."""
    lines = str(e).strip().splitlines()
    return lines[-2] if len(lines) > 1 else lines[-1] if lines else "failed"


def execute(data: str, stages: list[Stage], runs: list[Run], done_runs: set, run: Runner, *, tag: str,
            jobs: int = 2, quick: bool = False, seed: int = 0, say: Callable[[str], None] = print) -> list[str]:
    """Run the LLM-side ``stages`` in order on one lane and the backbone ``runs`` on the others.

    A run starts once every stage it needs has finished, so runs that read no profiles go
    beside the LLM side from the start; while they do, LLM stages take one thread fewer.
    Complete stages and runs (``done_runs``) are skipped; a finished run is recorded in
    runs_done_path. Returns the names of failed runs; an LLM-side failure raises SystemExit
    after the other runs have finished.
    """
    finished = {s.name: threading.Event() for s in stages}
    failed_stage: list[str] = []
    waiting = {r.key for r in runs if not r.needs(data) and r.key not in done_runs}
    cpus = os.cpu_count() or 1
    done_lock = threading.Lock()

    def llm_side() -> None:
        for s in stages:
            try:
                if failed_stage:
                    continue
                if s.done(data):
                    say(f"  {s.name:34s} complete, skipped")
                else:
                    run(s.name, s.command(data, quick, seed), max(1, cpus - (jobs - 1)) if waiting else 0)
            except SystemExit as e:
                failed_stage.append(str(e))
                say(_cause(e))
            finally:
                finished[s.name].set()

    def backbone(r: Run) -> str | None:
        name = r.name(tag if tag not in ("main", "quick") else "")
        if r.key in done_runs:
            say(f"  {name:34s} complete, skipped")
            return None
        for s in r.needs(data):
            if s.name in finished and not s.done(data):   # a complete stage later in the lane does not hold it up
                finished[s.name].wait()
            elif not s.done(data):
                return f"{name} (not run: stage {s.name} was not run and its outputs are missing)"
        if any(not s.done(data) for s in r.needs(data)):
            return f"{name} (not run: a stage it needs failed)"
        try:
            run(name, r.command(data, tag), 1 if jobs > 1 else 0)
            with done_lock:
                append_jsonl(runs_done_path(data, tag), {"run": list(r.key)})
        except SystemExit as e:
            say(_cause(e))
            return name
        finally:
            waiting.discard(r.key)
        return None

    order = sorted(runs, key=lambda r: bool(r.needs(data)))   # runs that read no profiles first
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        pool.submit(llm_side)
        failed = [f for f in pool.map(backbone, order) if f]
    if failed_stage:
        raise SystemExit(failed_stage[0])
    return failed
