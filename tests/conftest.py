"""Test-session set-up: every artifact goes to a temporary folder, never the user's data/,
results/ or outputs/; ml-100k is prepared once per session from the recbole wheel."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# set once per process even if this module is imported twice (as conftest and tests.conftest);
# each pytest-xdist worker gets its own folder, so two never write the same results file
_TMP = Path(os.environ.setdefault("PTE_TEST_TMP", tempfile.mkdtemp(prefix="pte-tests-"))) / \
    os.environ.get("PYTEST_XDIST_WORKER", "main")
for var, sub in (("PTE_DATA", "data"), ("PTE_RESULTS", "results"), ("PTE_OUTPUTS", "outputs"), ("PTE_IMG", "img")):
    os.environ[var] = str(_TMP / sub)
os.environ.setdefault("WANDB_MODE", "offline")
# one torch thread per process: the scripts the tests launch are small, and two threads on a
# shared 2-core machine oversubscribe it (3-5x slower)
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


# the end-to-end tests start first, so the other worker fills in around them instead of waiting at the end
_LONGEST_FIRST = ("test_reproduce.py", "test_llm_train.py", "test_dreamrec.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(_LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))   # stable: the rest keep their order


def backbone_model(backbone: str):
    """base_models/<backbone>/model.py as a module (loaded by path: every backbone's is named model.py)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(f"{backbone.lower()}_model", ROOT / "base_models" / backbone / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(script: str | Path, *args: str, cwd: Path | None = None, timeout: int = 600,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a repository script as a user would (``env``: variables to set on top of this process's);
    fail with its output if it fails."""
    proc = subprocess.run([sys.executable, str(script), *args], cwd=cwd or ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        raise AssertionError(f"{script} {' '.join(args)} exited {proc.returncode}\n"
                             f"--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}")
    return proc


def _preparation_digest() -> str:
    """A hash of the code that decides what data/prepare.py writes (a shared preparation is reused
    only while it matches)."""
    import hashlib
    files = [ROOT / "data" / "prepare.py", *sorted((ROOT / "pte").rglob("*.py"))]
    return hashlib.sha1(b"".join(f.read_bytes() for f in files)).hexdigest()


@pytest.fixture(scope="session")
def ml100k_name() -> str:
    """ml-100k (interactions, splits, item-text embeddings) in this worker's data dir: prepared once
    per test session by whichever worker asks first, then copied (tests may alter their copy)."""
    import fcntl
    import shutil
    shared = _TMP.parent / "prepared"
    shared.mkdir(parents=True, exist_ok=True)
    done, digest = shared / "ml-100k.done", _preparation_digest()
    with open(shared / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)   # the other workers wait here instead of preparing it again
        if not done.exists() or done.read_text() != digest:   # a kept PTE_TEST_TMP of older code: redo
            shutil.rmtree(shared / "ml-100k", ignore_errors=True)
            run_script(ROOT / "data" / "prepare.py", "--data", "ml-100k", env={"PTE_DATA": str(shared)})
            done.write_text(digest)
    dest = Path(os.environ["PTE_DATA"]) / "ml-100k"
    copied = dest.parent / "ml-100k.digest"   # which preparation this worker's copy came from
    if not dest.exists() or not copied.exists() or copied.read_text() != digest:
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(shared / "ml-100k", dest)
        copied.write_text(digest)
    return "ml-100k"


@pytest.fixture(scope="session")
def ml100k(ml100k_name):
    from pte.data import load_dataset
    return load_dataset(ml100k_name)


@pytest.fixture(scope="session")
def splits(ml100k):
    from pte.splits import load_split
    return {s: load_split(ml100k, s) for s in ("coldstart", "longtail")}
