"""Raw Amazon (2014/2018/2023) and Yelp files -> prepared datasets, on samples in the published formats.

The samples under tests/fixtures/ are a few dozen hand-written lines each; the expected
outcomes in these tests were worked out by hand from them (see the comments).
"""
import gzip
import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from pte.data import DataError, load_dataset
from pte.data.amazon import load_amazon, read_reviews
from pte.data.catalog import lookup, resolve
from pte.data.filters import FILTERS, apply_filters, earliest_of_pairs, iterative_core, single_pass_core
from pte.data.rawio import iter_records
from pte.data.yelp import load_yelp
from pte.splits import load_split
from tests.conftest import ROOT, run_script

FIX = Path(__file__).parent / "fixtures"
PREPARE = ROOT / "data" / "prepare.py"


def sequences(ds) -> dict[str, list[str]]:
    return {ds.user_raw[u]: [ds.item_raw[i] for i in ds.sequence(u)] for u in range(ds.n_users)}


# ---------------------------------------------------------------- filters

def test_single_pass_core_is_not_iterated():
    # users >= 3, items >= 2. user 0: items 0,1,2; user 1: items 0,1; user 2: items 0,1,3.
    # One pass drops user 1 and items 2, 3, keeping users 0 and 2 with 2 rows each;
    # iterating would then drop them too (and so everything)
    user = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    item = np.array([0, 1, 2, 0, 1, 0, 1, 3])
    all_rows = np.ones(8, bool)
    assert single_pass_core(user, item, all_rows, 3, 2).tolist() == [1, 1, 0, 0, 0, 1, 1, 0]
    assert iterative_core(user, item, all_rows, 3, 2).tolist() == [0] * 8


def test_earliest_of_repeated_pairs():
    user = np.array([0, 0, 0, 1, 0])
    item = np.array([5, 5, 6, 5, 5])
    ts = np.array([30., 10., 20., 10., 10.])
    # pair (0,5) at times 30, 10, 10: the earliest wins, and of the tied two the first in the file
    assert earliest_of_pairs(user, item, ts, np.ones(5, bool)).tolist() == [False, True, True, True, False]


def test_llmesr_filter_counts_each_step():
    user, item = np.array([0, 0, 0, 1]), np.array([0, 0, 1, 1])
    mask, log = apply_filters(FILTERS["llmesr"], user, item, np.zeros(4), np.array([5, 5, 0, 5], np.float32))
    assert [s["interactions"] for s in log] == [4, 3, 0, 0]  # read, rating > 0, core (user 1: 1 row), >= 3
    assert not mask.any()


# ---------------------------------------------------------------- Amazon

def test_amazon_2014_beauty_longtail_filter():
    ds = load_amazon("beauty", FIX / "amazon2014/reviews_Beauty.json", FIX / "amazon2014/meta_Beauty.json.gz",
                     FILTERS["llmesr"], progress=False)
    # 23 reviews; rating 0 drops 1; single pass drops user 7 (2 left), items 6,7,9 (< 3);
    # users 4 and 5 keep < 3 rows and go; item 05 keeps 1 interaction (no second pass)
    assert [s["interactions"] for s in ds.meta["filter_log"]] == [23, 22, 17, 14]
    assert sequences(ds) == {
        "A1BEAUTYUSER1": ["B0000BTY01", "B0000BTY02", "B0000BTY03", "B0000BTY04"],  # time order, not file order
        "A2BEAUTYUSER2": ["B0000BTY01", "B0000BTY02", "B0000BTY03"],
        "A3BEAUTYUSER3": ["B0000BTY01", "B0000BTY02", "B0000BTY04", "B0000BTY05"],
        "A6BEAUTYUSER6": ["B0000BTY01", "B0000BTY02", "B0000BTY01"]}   # a repeat counts, as in LLM-ESR
    assert ds.item_popularity[ds.item_raw.index("B0000BTY05")] == 1
    assert ds.items[0] == {"title": "Rose & Oud Hand Cream",
                           "categories": "Beauty, Skin Care, Hands & Nails, Fragrance",   # 2014: several paths
                           "brand": "Petal", "description": "A rich cream with rose and oud. Absorbs fast."}
    assert ds.item_text(4) == "item B0000BTY05" and ds.meta["items_without_text"] == 1


def test_amazon_2018_gzip_dedup_and_iterated_5core():
    ds = load_amazon("toys", FIX / "amazon2018/Toys_and_Games_5.json.gz", FIX / "amazon2018/meta_Toys_and_Games.json",
                     FILTERS["5core"], progress=False)
    # 42 lines; the exact duplicate and V2's later repeat of T3 go (40); the core then takes three
    # rounds (V6 and T6; then T7; then V7), leaving V1..V5 x T1..T5
    assert [s["interactions"] for s in ds.meta["filter_log"]] == [42, 40, 25]
    assert ds.user_raw == [f"A{k}TOYSUSER" for k in range(1, 6)]
    assert ds.item_raw == [f"B00TOYS00{k}" for k in range(1, 6)]
    u2 = ds.user_raw.index("A2TOYSUSER")
    rows = np.flatnonzero((ds.user == u2) & (ds.item == 2))
    assert len(rows) == 1 and ds.timestamp[rows[0]] == 1500000000 + 1000 + 20  # the earliest of the repeat
    assert ds.item_text(0) == ("Harbour Puzzle 500 — Toys & Games, Puzzles, Jigsaw Puzzles; Puzzlers; "
                               "500 pieces; Poster included; A 500-piece puzzle. Ages 8+.")
    assert ds.items[1]["title"] == 'Card Game "Snap"' and ds.items[2]["description"] == "Wooden blocks"


def test_amazon_2023_milliseconds_and_parent_asin():
    ds = load_amazon("movies", FIX / "amazon2023/Movies_and_TV.jsonl", FIX / "amazon2023/meta_Movies_and_TV.jsonl",
                     FILTERS["none"], progress=False)
    assert ds.item_raw == ["B00MOVIEAP", "B00MOVIEBP", "B00MOVIECP"]   # variants fold into their parent
    assert sequences(ds)["AGMOVIEUSER1"] == ["B00MOVIEAP", "B00MOVIEBP", "B00MOVIEAP"]
    u1 = ds.user_raw.index("AGMOVIEUSER1")
    assert ds.timestamp[ds.user == u1].tolist() == [1588687728.923, 1588687729.5, 1600000000.0]
    assert ds.items[0]["features"] == "Widescreen; Subtitles: English" and ds.items[0]["brand"] == "Harbour Films"
    assert ds.items[1]["brand"] == "Orbit Studio"   # details["Brand"] when there is no store
    dedup = resolve("movies", str(FIX / "amazon2023/Movies_and_TV.jsonl"), filter="none", dedup="yes").spec
    ds = load_amazon("movies", FIX / "amazon2023/Movies_and_TV.jsonl", None, dedup, progress=False)
    assert sequences(ds)["AGMOVIEUSER1"] == ["B00MOVIEAP", "B00MOVIEBP"] and ds.items[0] == {}


def test_meta_found_beside_reviews_and_names():
    src = resolve("Movies & TV", str(FIX / "amazon2023/Movies_and_TV.jsonl"))
    assert (src.name, src.fmt, src.spec.name) == ("movies", "amazon", "5core")
    assert src.meta.name == "meta_Movies_and_TV.jsonl"
    assert resolve("Beauty", str(FIX / "amazon2014/reviews_Beauty.json")).meta.name == "meta_Beauty.json.gz"
    assert lookup("Toys_and_Games").name == "toys" and lookup("AMAZON_FASHION").name == "fashion"
    with pytest.raises(DataError, match="pass --filter"):
        resolve("books", str(FIX / "amazon2014/reviews_Beauty.json"))
    with pytest.raises(DataError, match="needs --raw"):
        resolve("sports", "")


# ---------------------------------------------------------------- Yelp

def test_yelp_date_window_and_filter():
    ds = load_yelp("yelp", FIX / "yelp/yelp_academic_dataset_review.json",
                   FIX / "yelp/yelp_academic_dataset_business.json", FILTERS["llmesr"], progress=False)
    # out of [2000-01-01 00:00:00, 2019-12-31 00:00:00]: 1999, 2020 and 2019-12-31 21:15 (string compare);
    # bizD keeps 1 review -> dropped; yU4 is left with 2 -> dropped
    assert "3 reviews outside" in ds.meta["filter_log"][0]["step"]
    assert sequences(ds) == {u: ["bizA", "bizB", "bizC"] for u in ("yU1", "yU2", "yU3")}
    u3 = ds.user_raw.index("yU3")
    assert ds.timestamp[ds.user == u3][0] == datetime(2012, 7, 4, tzinfo=timezone.utc).timestamp()  # date-only line
    u2 = ds.user_raw.index("yU2")
    assert ds.timestamp[ds.user == u2][-1] == datetime(2019, 12, 31, tzinfo=timezone.utc).timestamp()
    assert ds.item_text(0) == "Taco & Co — Mexican, Restaurants; Phoenix, AZ"
    assert ds.items[1]["categories"] == "Coffee & Tea, Cafes" and ds.items[2] == {"title": "Green Leaf",
                                                                                  "description": "Las Vegas, NV"}


# ---------------------------------------------------------------- malformed input

def test_malformed_line_is_named(tmp_path):
    good = (FIX / "amazon2014/reviews_Beauty.json").read_text().splitlines()
    bad = tmp_path / "reviews_X.json"
    bad.write_text("\n".join([good[0], good[1], '{"reviewerID": "A", "asin": ', good[2]]) + "\n")
    with pytest.raises(DataError, match=r"reviews_X\.json:3: not a JSON object"):
        read_reviews(bad, progress=False)
    bad.write_text(good[0] + "\n" + json.dumps({"reviewerID": "A", "asin": "B", "unixReviewTime": 1}) + "\n")
    with pytest.raises(DataError, match=r":2: field 'overall' missing"):
        read_reviews(bad, progress=False)
    bad.write_text(json.dumps({"user": "A"}) + "\n")
    with pytest.raises(DataError, match="not an Amazon review line"):
        read_reviews(bad, progress=False)


def test_truncated_gzip_is_named(tmp_path):
    data = (FIX / "amazon2018/Toys_and_Games_5.json.gz").read_bytes()
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated or corrupt"):
        list(iter_records(cut, progress=False))


# ---------------------------------------------------------------- the command line, end to end

def write_amazon_2018(path: Path, n_users: int = 40, n_items: int = 120, per_user: int = 15) -> None:
    """A gzip review file in which every item has exactly n_users * per_user / n_items users."""
    with gzip.open(path, "wt") as f:
        for u in range(n_users):
            for k in range(per_user):
                i = (u * per_user + k) % n_items
                f.write(json.dumps({"overall": 4.0, "verified": True, "reviewerID": f"AU{u:03d}", "asin": f"B{i:05d}",
                                    "unixReviewTime": 1400000000 + 86400 * u + k}) + "\n")


def test_prepare_command_on_raw_amazon(tmp_path):
    raw = tmp_path / "Toys_and_Games_5.json.gz"
    write_amazon_2018(raw)
    args = ("--data", "toys", "--raw", str(raw), "--meta", "none", "--encoder", "", "--name", "toys-cli")
    out = run_script(PREPARE, *args).stdout
    assert "toys-cli: 40 users, 120 items, 600 interactions" in out
    assert "filter: iterated core: users >= 5, items >= 5: 600 interactions" in out
    assert "published (AlphaFuse" in out and "coldstart groups: tail item" in out
    ds = load_dataset("toys-cli")
    assert ds.meta["filter"] == "5core" and ds.meta["paper_setting"] == "coldstart"
    assert load_split(ds, "coldstart").info["n_test_users"] == 4
    again = run_script(PREPARE, *args).stdout
    assert "is up to date" in again
    changed = run_script(PREPARE, *args, "--dedup", "no").stdout   # a different filter rebuilds
    assert "wrote" in changed


def test_prepare_command_errors_are_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(PREPARE), "--data", "books", "--raw", str(FIX / "amazon2014/reviews_Beauty.json")],
        capture_output=True, text=True)
    assert proc.returncode != 0 and "error: --data books is not one of the paper's datasets" in proc.stderr
    assert "Traceback" not in proc.stderr
