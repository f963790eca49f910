"""Every script a user runs answers ``--help`` and ``-h``: exit status 0, its docstring, and every
option it takes (pte.config.apply_overrides prints the UPPERCASE constants at the script's top, each
with the comment written beside it; an argparse script prints its add_argument options).

Scripts are found by globbing, so a new one is covered without touching this file; the expected
options are read from each script's source. The runs go two at a time, once per session.
"""
from __future__ import annotations

import ast
import io
import os
import re
import subprocess
import sys
import tokenize
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import ROOT

PATTERNS = ("reproduce.py", "data/*.py", "llm/*.py", "llm/lora/*.py", "llm/lora/rlhf/*.py",
            "base_models/*/Main.py", "bench/*.py")
MODULES = {"-m pte.tables": "pte/tables.py"}  # run as python -m; options read from this file
FLAGS = ("--help", "-h")
TIMEOUT = 180


def scripts() -> list[str]:
    found = {p.relative_to(ROOT).as_posix() for pat in PATTERNS for p in ROOT.glob(pat)
             if p.is_file() and p.name != "__init__.py"}
    return sorted(found) + sorted(MODULES)


def command(script: str, flag: str) -> tuple[list[str], Path]:
    """The command line and working directory a user would use (backbones: from their own folder)."""
    if script in MODULES:
        return [sys.executable, *script.split(), flag], ROOT
    path = ROOT / script
    if path.parent.parent == ROOT / "base_models":
        return [sys.executable, path.name, flag], path.parent
    return [sys.executable, script, flag], ROOT


def run_help(script: str, flag: str) -> subprocess.CompletedProcess:
    cmd, cwd = command(script, flag)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # conftest's temporary data/results/outputs dirs included
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT, env=env)
    except subprocess.TimeoutExpired as e:
        return subprocess.CompletedProcess(cmd, -1, e.stdout or "", f"timed out after {TIMEOUT} s")


# ---------------------------------------------------------------- what the source says to expect

def _comments(source: str) -> dict[int, str]:
    """Line number -> the text of the comment on that line."""
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.start[0]] = tok.string.lstrip("#").strip()
    return out


def _is_call(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Call) and (getattr(node.func, "id", None) == name
                                           or getattr(node.func, "attr", None) == name)


def _upper_names(node: ast.Assign | ast.AnnAssign) -> list[str]:
    names = []
    for t in (node.targets if isinstance(node, ast.Assign) else [node.target]):
        names += [e.id for e in (t.elts if isinstance(t, ast.Tuple) else [t]) if isinstance(e, ast.Name)]
    return [n for n in names if n.isupper() and not n.startswith("_")]


def _is_table(value: ast.expr) -> bool:
    """A literal dict/set whose entries are not plain scalars (e.g. a script's table of runs): data
    the script reads, not an option (apply_overrides takes scalars, lists and per-setting dicts)."""
    try:
        v = ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    scalar = (bool, int, float, str, type(None))
    return isinstance(v, (set, frozenset)) or (isinstance(v, dict) and not all(isinstance(x, scalar)
                                                                                 for x in v.values()))


def expected_options(path: Path) -> dict[str, str]:
    """--option -> the comment beside it ("" if none).

    apply_overrides(globals()): every UPPERCASE module-level assignment above the call (the
    call may sit in a function below them, e.g. main()), except literal tables (_is_table);
    apply_overrides(some_dict): that dict literal's UPPERCASE keys; no apply_overrides:
    argparse's add_argument("--x") options.
    """
    source = path.read_text()
    tree = ast.parse(source)
    comments = _comments(source)
    call = next((n for n in ast.walk(tree) if _is_call(n, "apply_overrides")), None)
    if call is None:
        opts = [a.value for n in ast.walk(tree) if _is_call(n, "add_argument") for a in n.args
                if isinstance(a, ast.Constant) and isinstance(a.value, str) and a.value.startswith("--")]
        return {o: "" for o in opts}
    target = call.args[0] if call.args else None
    if isinstance(target, ast.Name) and target.id != "globals":
        for n in ast.walk(tree):
            if isinstance(n, ast.Assign) and any(getattr(t, "id", None) == target.id for t in n.targets) \
                    and isinstance(n.value, ast.Dict):
                return {f"--{k.value.lower()}": "" for k in n.value.keys if isinstance(k, ast.Constant)
                        and isinstance(k.value, str) and k.value.isupper() and not k.value.startswith("_")}
        raise AssertionError(f"{path}: apply_overrides({target.id}) without a dict literal to read options from")
    out = {}
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.lineno < call.lineno \
                and node.value is not None and not _is_table(node.value):
            for name in _upper_names(node):
                out[f"--{name.lower()}"] = comments.get(node.lineno, "")
    return out


def has_data_constant(path: Path) -> bool:
    tree = ast.parse(path.read_text())
    return any(isinstance(n, (ast.Assign, ast.AnnAssign)) and "DATA" in _upper_names(n) for n in tree.body)


def docstring_first_line(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text()))
    return doc.strip().splitlines()[0].strip() if doc else ""


# ---------------------------------------------------------------- the runs

@pytest.fixture(scope="module")
def help_runs(request) -> dict[tuple[str, str], subprocess.CompletedProcess]:
    """Every selected script with each flag, two subprocesses at a time."""
    wanted = sorted({item.callspec.params["script"] for item in request.session.items
                     if getattr(item, "originalname", "") == "test_help" and hasattr(item, "callspec")})
    jobs = [(s, f) for s in wanted for f in FLAGS]
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(jobs, pool.map(lambda job: run_help(*job), jobs)))


def test_scripts_are_found():
    found = scripts()
    for must in ("reproduce.py", "data/prepare.py", "llm/lora/sft_base.py", "llm/lora/rlhf/rl_training.py",
                 "base_models/SASRec/Main.py", "-m pte.tables"):
        assert must in found, must


@pytest.mark.parametrize("script", scripts())
def test_help(script, help_runs):
    source = ROOT / MODULES.get(script, script)
    options = expected_options(source)
    first_line = docstring_first_line(source) if script not in MODULES else ""
    assert options, f"{script}: no options found in its source"
    outputs = {}
    for flag in FLAGS:
        proc = help_runs[(script, flag)]
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, (f"{script} {flag} exited {proc.returncode}\n--- stdout\n{proc.stdout[-2000:]}"
                                      f"\n--- stderr\n{proc.stderr[-2000:]}")
        if has_data_constant(source):
            assert re.search(r"--data(?![\w-])", out), f"{script} {flag}: --data not listed\n{out}"
        missing = [o for o in options if not re.search(rf"{re.escape(o)}(?![\w-])", out)]
        assert not missing, f"{script} {flag}: options not listed: {missing}\n{out}"
        uncommented = [f"{o}: {c!r}" for o, c in options.items() if c and c not in out]
        assert not uncommented, f"{script} {flag}: comments not shown: {uncommented}\n{out}"
        if first_line:
            assert first_line in out, f"{script} {flag}: the docstring's first line is not shown\n{out}"
        outputs[flag] = proc.stdout
    assert outputs["--help"] == outputs["-h"], f"{script}: --help and -h print different text"
