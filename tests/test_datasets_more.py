"""The two larger real datasets: MovieLens-1M (embedded, read on a slice here) and the Amazon
Beauty 5-core sequences (from ../shared; skipped when it is absent)."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, run_script
from pte.data import DataError
from pte.data.atomic import read_atomic
from pte.splits import build_coldstart, build_longtail, settings_of

BEAUTY = ROOT.parent / "shared" / "data" / "amazon-beauty"
needs_beauty = pytest.mark.skipif(not BEAUTY.is_dir(), reason="../shared/data/amazon-beauty is absent")


@pytest.fixture(scope="module")
def ml1m_slice(tmp_path_factory) -> Path:
    """The wheel's ml-1m files with the first 3,000 interactions (the file is grouped by user)."""
    from pte.data.assets import ml1m_dir
    src, dst = ml1m_dir(), tmp_path_factory.mktemp("ml1m")
    with open(src / "ml-1m.inter", encoding="utf-8") as f, open(dst / "ml-1m.inter", "w", encoding="utf-8") as g:
        g.writelines(line for _, line in zip(range(3001), f))
    for ext in ("item", "user"):
        shutil.copy(src / f"ml-1m.{ext}", dst / f"ml-1m.{ext}")
    return dst


def test_ml1m_ids_map_back_to_the_wheels_files(ml1m_slice):
    from pte.data.recbole import ML1M_AGES, ML1M_OCCUPATIONS, ml1m
    ds = ml1m(ml1m_slice, expected_rows=None)
    _, inter = read_atomic(ml1m_slice / "ml-1m.inter")
    _, item_rows = read_atomic(ml1m_slice / "ml-1m.item")
    assert len(ds.item) == 3000
    assert all(u.isdigit() for u in ds.user_raw) and ds.user_raw == sorted(ds.user_raw, key=int)
    # every interaction survives the re-keying: (user, title) -> rating as in the file
    want = {(u.removeprefix("1m_"), title): float(r) for u, title, r, _ in inter}
    got = {(ds.user_raw[u], ds.items[i]["recbole_id"]): float(r) for u, i, r in zip(ds.user, ds.item, ds.rating)}
    assert got == want
    for i in range(ds.n_items):   # raw item id = 1-based row of ml-1m.item
        assert item_rows[int(ds.item_raw[i]) - 1][0] == ds.items[i]["recbole_id"]
    assert {u["age"] for u in ds.users} <= set(ML1M_AGES.values())
    assert {u["occupation"] for u in ds.users} <= set(ML1M_OCCUPATIONS)
    assert all(np.all(np.diff(ds.timestamp[ds.user_ptr[u]:ds.user_ptr[u + 1]]) >= 0) for u in range(ds.n_users))
    assert settings_of(ds) == ("coldstart", "longtail")
    assert build_coldstart(ds).info["n_test_users"] > 0 and len(build_longtail(ds).test) == ds.n_users


def test_ml1m_user_descriptions_read_the_age_groups(ml1m_slice):
    from pte.data.recbole import ml1m
    from pte.llm.data import median_age, user_desc
    ds = ml1m(ml1m_slice, expected_rows=None)
    first = ds.user_raw.index("1")   # MovieLens-1M user 1: F, age code 1, occupation 10
    assert user_desc(ds, first) == "female K-12 student aged under 18"
    assert user_desc(ds, ds.user_raw.index("3")) == "25-34-year-old male scientist"   # M, 25, 15
    assert median_age([{"age": "18-24"}, {"age": "56 or older"}, {"age": "25-34"}]) == "25-34"
    assert median_age([{"age": "20"}, {"age": "30"}]) == "25"


def test_ml1m_refuses_a_truncated_file(ml1m_slice):
    from pte.data.recbole import ML1M_COUNTS, ml1m
    with pytest.raises(DataError, match="truncated"):
        ml1m(ml1m_slice, expected_rows=ML1M_COUNTS)


@needs_beauty
def test_beauty_reads_the_published_counts_and_titles():
    from pte.data.sequences import load_sequences
    ds = load_sequences("beauty-5core", BEAUTY)
    assert (ds.n_users, ds.n_items, len(ds.item)) == (22_363, 12_101, 198_502)
    titles = [it.get("title", "") for it in ds.items]
    assert not any(re.search(r"&[a-z]+;", t) for t in titles) and any("è" in t for t in titles)   # &egrave;
    assert sum(not t for t in titles) == ds.meta["items_without_text"] == 7
    first = ds.user_raw.index("A1YJEY40YUW4SE")   # the file's first line, in order
    assert [ds.item_raw[i] for i in ds.sequence(first)] == "B004756YJA B004ZT0SSG B0020YLEYK 7806397051 B002WLWX82".split()
    assert settings_of(ds) == ("longtail",)
    with pytest.raises(DataError, match="no timestamps"):
        build_coldstart(ds)


@pytest.fixture(scope="module")
def beauty_slice(tmp_path_factory) -> Path:
    """The first 400 users of the Beauty folder, with both title files."""
    dst = tmp_path_factory.mktemp("beauty")
    lines = (BEAUTY / "user_sequence.txt").read_text().splitlines(True)[:400]
    (dst / "user_sequence.txt").write_text("".join(lines))
    for f in ("item_id_to_int.json", "products_lookup.csv"):
        shutil.copy(BEAUTY / f, dst / f)
    return dst


@needs_beauty
def test_beauty_prepares_longtail_only_and_coldstart_refuses(beauty_slice):
    out = run_script("data/prepare.py", "--data", "beauty-5core", "--raw", str(beauty_slice), "--encoder", "").stdout
    assert "longtail:" in out and "coldstart:" not in out, out
    from pte.data import load_dataset
    from pte.llm.data import train_view
    from pte.splits import load_split
    ds = load_dataset("beauty-5core")
    assert ds.meta["timestamps"] is False and not (ds.root / "coldstart.npz").exists()
    with pytest.raises(DataError, match="--setting longtail"):
        load_split(ds, "coldstart")
    view = train_view(ds, "both")   # the Profile stage trains on longtail's training items
    assert np.array_equal(view.split.train_items, load_split(ds, "longtail").train_items)
    proc = subprocess.run([sys.executable, "base_models/BiasMF/Main.py", "--data", "beauty-5core",
                           "--setting", "coldstart"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "no timestamps" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    run_script("base_models/BiasMF/Main.py", "--data", "beauty-5core", "--setting", "longtail", "--epochs", "1")
