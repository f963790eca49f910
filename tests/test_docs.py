"""The evidence ships: every table block of RESULTS.md is what `python -m pte.tables` prints from the
shipped results lines (results/ml-100k.jsonl, results/ml-1m.jsonl, results/ml-100k_profiles.jsonl),
and the figures the documents show are in the repository."""
import re
import subprocess

import pytest

from pte.tables import doc_blocks, render_block
from tests.conftest import ROOT

DOCS = [ROOT / "RESULTS.md", ROOT / "README.md"]


def own_runs_in_results() -> bool:
    """Whether results/ differs from the commit: after `python reproduce.py` on a clone it holds that
    run's lines beside the shipped ones, and the docs describe the shipped ones."""
    try:
        status = subprocess.run(["git", "status", "--porcelain", "--", "results"], cwd=ROOT, capture_output=True,
                                text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return status.returncode == 0 and bool(status.stdout.strip())


def test_every_table_in_the_docs_comes_from_the_shipped_rows():
    if own_runs_in_results():
        pytest.skip("results/ holds lines of this checkout's own runs (git status results/): the documents show "
                    "the shipped ones; `git stash` or a clean clone checks them")
    checked = 0
    for doc in DOCS:
        for args, body in doc_blocks(doc.read_text()):
            assert render_block(args, results=ROOT / "results") == body, \
                f"{doc.name}: the block `python -m pte.tables {args}` differs from what the shipped rows give; " \
                f"run `python -m pte.tables --update_doc {doc.name}` after checking why"
            checked += 1
    assert checked >= 4


def test_the_figures_the_docs_show_are_shipped():
    shown = [m for doc in DOCS for m in re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", doc.read_text())]
    assert shown
    for path in shown:
        f = ROOT / path
        assert f.exists() and f.stat().st_size < 400_000, path
