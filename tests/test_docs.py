"""The evidence ships: every table block of RESULTS.md is what `python -m pte.tables` prints from the
shipped results lines (results/ml-100k.jsonl, results/ml-100k_profiles.jsonl), and the figures the
documents show are in the repository."""
import re

from pte.tables import doc_blocks, render_block
from tests.conftest import ROOT

DOCS = [ROOT / "RESULTS.md", ROOT / "README.md"]


def test_every_table_in_the_docs_comes_from_the_shipped_rows():
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
