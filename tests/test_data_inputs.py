"""Bad input fails with a message naming the file (and line) and the fix."""
import json

import numpy as np
import pytest

from pte.data import DataError, load_dataset
from pte.data.recbole import from_atomic_folder
from pte.embeddings import load_embeddings, save_embeddings
from tests.conftest import ROOT, run_script

HEAD = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"


def test_malformed_line_is_named(tmp_path):
    (tmp_path / "x.inter").write_text(HEAD + "1\t2\t3\t100\n1\t3\t4\n")
    with pytest.raises(DataError, match=r"x\.inter:3: expected 4"):
        from_atomic_folder(tmp_path)


def test_bad_timestamp_and_missing_header(tmp_path):
    (tmp_path / "x.inter").write_text(HEAD + "1\t2\t3\tyesterday\n")
    with pytest.raises(DataError, match=r"x\.inter:2: timestamp/rating must be numbers"):
        from_atomic_folder(tmp_path)
    (tmp_path / "x.inter").write_text("user_id\titem_id\n1\t2\n")
    with pytest.raises(DataError, match="typed as name:type"):
        from_atomic_folder(tmp_path)


def test_missing_files(tmp_path):
    with pytest.raises(DataError, match="no .inter file"):
        from_atomic_folder(tmp_path)
    with pytest.raises(DataError, match="Run: python data/prepare.py"):
        load_dataset(str(tmp_path / "nothing"))


def test_truncated_ml100k_is_refused(tmp_path):
    from pte.data.assets import ml100k_dir
    src = ml100k_dir()
    for ext in ("inter", "item", "user"):
        lines = (src / f"ml-100k.{ext}").read_text().splitlines(keepends=True)
        (tmp_path / f"ml-100k.{ext}").write_text("".join(lines[:-5] if ext == "inter" else lines))
    from pte.data.recbole import ML100K_COUNTS
    with pytest.raises(DataError, match="99995 data rows, expected 100000"):
        from_atomic_folder(tmp_path, expected_rows=ML100K_COUNTS)


def test_atomic_folder_prepares_and_is_idempotent(tmp_path):
    rows = [f"u{u}\ti{(u * 7 + k) % 140}\t1\t{k}" for u in range(30) for k in range(8)]
    (tmp_path / "toy.inter").write_text(HEAD + "\n".join(rows) + "\n")
    (tmp_path / "toy.item").write_text("item_id:token\ttitle:token_seq\n" +
                                       "\n".join(f"i{i}\tThing {i}" for i in range(140)) + "\n")
    out = run_script(ROOT / "data" / "prepare.py", "--data", str(tmp_path), "--encoder", "")
    assert "toy: 30 users, 140 items, 240 interactions" in out.stdout
    again = run_script(ROOT / "data" / "prepare.py", "--data", str(tmp_path), "--encoder", "")
    assert "up to date" in again.stdout


def test_embedding_file_checks(ml100k, tmp_path):
    vec = np.random.default_rng(0).normal(size=(ml100k.n_items, 8)).astype(np.float32)
    path = tmp_path / "e.npy"
    save_embeddings(path, vec, ml100k.item_raw, kind="item", data="ml-100k", encoder="test")
    assert np.allclose(load_embeddings(path, ml100k, "item"), vec)
    with pytest.raises(DataError, match="holds item vectors, but user"):
        load_embeddings(path, ml100k, "user")
    meta = json.loads(path.with_suffix(".json").read_text())
    meta["ids"] = meta["ids"][::-1]
    path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="do not match ml-100k's 1682 item"):
        load_embeddings(path, ml100k, "item")
    bad = vec.copy()
    bad[3, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        save_embeddings(path, bad, ml100k.item_raw, kind="item", data="ml-100k", encoder="test")
    np.save(path, bad)  # written behind the sidecar's back
    meta["ids"] = list(ml100k.item_raw)
    path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="NaN/inf"):
        load_embeddings(path, ml100k, "item")
    path.with_suffix(".json").unlink()
    with pytest.raises(DataError, match="sidecar missing"):
        load_embeddings(path, ml100k, "item")


def test_item_text_embeddings_written(ml100k):
    vec = load_embeddings(ml100k.root / "item_text.npy", ml100k, "item")
    assert vec.shape == (1682, 384) and np.allclose(np.linalg.norm(vec, axis=1), 1, atol=1e-4)


def test_jsonl_round_trips_and_gzip_bytes_repeat(tmp_path):
    """write_jsonl -> read_jsonl gives the rows back, plain or .gz; a .gz file holds no name or time,
    so writing the same rows again gives the same bytes (shipped texts don't change on a rerun)."""
    from pte.io import read_jsonl, write_jsonl
    rows = [{"id": i, "text": "Amélie, 100% ☕" * i} for i in range(50)]
    write_jsonl(tmp_path / "a.jsonl", rows)
    write_jsonl(tmp_path / "a.jsonl.gz", rows)
    first = (tmp_path / "a.jsonl.gz").read_bytes()
    assert not first[3] & 0x08 and first[4:8] == bytes(4)   # header flags: no file name; time 0
    write_jsonl(tmp_path / "a.jsonl.gz", rows)               # through another temporary file
    assert (tmp_path / "a.jsonl.gz").read_bytes() == first
    assert read_jsonl(tmp_path / "a.jsonl") == rows and read_jsonl(tmp_path / "a.jsonl.gz") == rows
