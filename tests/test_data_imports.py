"""Importers for the authors' processed files (LLM-ESR, AlphaFuse/DreamRec) and the id/padding conversions."""
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pte.data import DataError, load_dataset
from pte.data.idmap import ALPHAFUSE, LLMESR, alphafuse_len_seq, embedding_rows
from pte.data.imports import (chain_sequences, load_pickle, read_alphafuse, read_alphafuse_samples, read_llmesr,
                              write_alphafuse, write_llmesr_inter)
from pte.embeddings import embedding_meta, load_embeddings
from pte.splits import PAD, load_split
from tests.conftest import ROOT, run_script

FIX = Path(__file__).parent / "fixtures"
PREPARE = ROOT / "data" / "prepare.py"
ZHIHU = Path(os.environ.get("PTE_DREAMREC_ZHIHU", Path(__file__).resolve().parents[2] / "shared/data/dreamrec-zhihu"))


# ---------------------------------------------------------------- id offsets and padding

def test_llmesr_rows_and_ids():
    rows = np.array([[0, 0, 3, 5], [0, 1, 2, 9]])
    inputs, lengths = LLMESR.rows_to_internal(rows, 9)
    assert inputs.tolist() == [[PAD, PAD, 2, 4], [PAD, 0, 1, 8]] and lengths.tolist() == [2, 3]
    assert LLMESR.rows_to_external(inputs, 9).tolist() == rows.tolist()
    assert LLMESR.to_internal([1, 9], 9).tolist() == [0, 8] and LLMESR.pad(9) == 0
    with pytest.raises(DataError, match="outside LLM-ESR's range 1..9"):
        LLMESR.to_internal([0], 9, "inter.txt")
    with pytest.raises(DataError, match="row 1 is not padded on the left"):
        LLMESR.rows_to_internal(np.array([[0, 1], [1, 0]]), 9, "x")


def test_alphafuse_rows_and_ids():
    rows = np.array([[3, 5, 12, 12], [12, 12, 12, 12], [0, 1, 2, 11]])
    inputs, lengths = ALPHAFUSE.rows_to_internal(rows, 12)
    assert inputs.tolist() == [[PAD, PAD, 3, 5], [PAD] * 4, [0, 1, 2, 11]]
    assert ALPHAFUSE.rows_to_external(inputs, 12).tolist() == rows.tolist()
    assert alphafuse_len_seq(lengths).tolist() == [2, 1, 4] and ALPHAFUSE.pad(12) == 12
    with pytest.raises(DataError, match="row 0 is not padded on the right"):
        ALPHAFUSE.rows_to_internal(np.array([[12, 3, 12, 12]]), 12, "val_data.df")
    with pytest.raises(DataError, match="item id 13"):
        ALPHAFUSE.rows_to_internal(np.array([[13, 12]]), 12, "val_data.df")


def test_embedding_rows_follow_internal_ids():
    vec = np.arange(10, dtype=np.float32)[:, None].repeat(3, 1)
    assert embedding_rows(vec, 9, LLMESR, allow_extra=True)[:, 0].tolist() == list(range(9))  # extra row cut
    assert embedding_rows(list(vec), 10, ALPHAFUSE).shape == (10, 3)            # a list of vectors, as pickled
    for n in (9, 11):
        with pytest.raises(DataError, match=f"10 rows for {n} items"):
            embedding_rows(vec, n, ALPHAFUSE, "3small_emb.pickle")


# ---------------------------------------------------------------- pickles

def test_pickles_are_refused_without_the_flag(tmp_path):
    path = tmp_path / "itm_emb_np.pkl"
    path.write_bytes(pickle.dumps(np.zeros((2, 2))))
    with pytest.raises(DataError, match="refusing to load a pickle without --trust_pickle true"):
        load_pickle(path, trust=False)
    assert load_pickle(path, trust=True).shape == (2, 2)


# ---------------------------------------------------------------- LLM-ESR

def test_llmesr_inter_round_trip(tmp_path):
    imp = read_llmesr(FIX / "llmesr/beauty/handled", "beauty", progress=False)
    ds = imp.dataset
    assert ds.user_raw == ["1", "2", "4", "5"]            # user 3 was dropped by LLM-ESR: ids keep their gaps
    assert ds.item_raw == [str(k) for k in range(1, 10)]  # item 7 has no interaction left but keeps its id
    assert [ds.sequence(u).tolist() for u in range(4)] == [[0, 1, 2, 3], [1, 4, 0], [5, 1, 7, 0, 8], [2, 2, 4]]
    assert ds.items[0] == {"source_id": "B0000BTY01", "title": "Rose & Oud Hand Cream",
                           "categories": "Beauty, Skin Care", "brand": "Petal", "description": "A rich cream."}
    assert ds.items[6] == {"source_id": "B0000BTY07"}
    out = tmp_path / "inter.txt"
    write_llmesr_inter(ds, out)
    assert out.read_bytes() == (FIX / "llmesr/beauty/handled/inter.txt").read_bytes()


def write_llmesr_pickles(folder: Path, n_items: int, n_users: int) -> None:
    """The LLM-ESR embedding pickles, row r of the item files = item id r + 1 (value r + 1 in every column)."""
    items = np.arange(1, n_items + 1, dtype=np.float64)[:, None].repeat(4, 1)
    sim = np.array([[(u + 1) % n_users, (u + 2) % n_users] for u in range(n_users)])
    arrays = {"itm_emb_np.pkl": items, "pca64_itm_emb_np.pkl": np.vstack([items, items[:1]]),  # one extra row
              "usr_emb_np.pkl": np.ones((n_users, 4)), "sim_user_100.pkl": sim}
    for name, arr in arrays.items():
        (folder / name).write_bytes(pickle.dumps(arr))


def test_llmesr_pickles_need_the_flag(tmp_path):
    folder = tmp_path / "beauty" / "handled"
    shutil.copytree(FIX / "llmesr/beauty/handled", folder)
    write_llmesr_pickles(folder, 9, 4)
    untrusted = read_llmesr(folder, "beauty", trust=False, progress=False)
    assert not untrusted.embeddings and "skipped itm_emb_np.pkl" in untrusted.notes[0]
    imp = read_llmesr(tmp_path / "beauty" / "handled" / "inter.txt", "beauty", trust=True, progress=False)
    files = {f: (vec, kind) for f, vec, kind, _ in imp.embeddings}
    assert files["item_text.npy"][0][:, 0].tolist() == list(range(1, 10))   # internal i <- LLM-ESR id i + 1
    assert files["item_text_pca64.npy"][0].shape == (9, 4) and files["user_text.npy"][1] == "user"
    assert "1 trailing rows beyond item id 9" in imp.notes[0]
    assert imp.arrays["llmesr_sim_users"].tolist()[0] == [1, 2]


# ---------------------------------------------------------------- AlphaFuse / DreamRec

def dreamrec_rows(seqs: list[list[int]], seq_size: int, item_num: int) -> dict[str, list]:
    """Samples as DreamRec writes them: every position; last <= seq_size items, right-padded with item_num."""
    out = {"seq": [], "len_seq": [], "next": []}
    for s in seqs:
        for t in range(len(s)):
            prefix = s[max(0, t - seq_size):t]
            out["seq"].append(prefix + [item_num] * (seq_size - len(prefix)))
            out["len_seq"].append(max(1, len(prefix)))
            out["next"].append(s[t])
    return out


SEQS = {"train": [[1, 2, 3, 4, 5, 6], [7, 8], [0, 11, 3]], "valid": [[2, 9, 1]], "test": [[5, 5, 10, 4]]}
FILES = {"train": "train_data.df", "valid": "val_data.df", "test": "test_data.df"}


def write_alphafuse_folder(folder: Path, seqs=SEQS, seq_size: int = 4, item_num: int = 12, emb: bool = True) -> None:
    import pandas as pd
    folder.mkdir(parents=True, exist_ok=True)
    for part, fname in FILES.items():
        pd.DataFrame(dreamrec_rows(seqs[part], seq_size, item_num)).to_pickle(folder / fname)
    pd.DataFrame({"seq_size": [seq_size], "item_num": [item_num]}).to_pickle(folder / "data_statis.df")
    if emb:
        (folder / "3small_emb.pickle").write_bytes(pickle.dumps([np.full(6, i, np.float64) for i in range(item_num)]))


def test_alphafuse_import_and_export_round_trip(tmp_path):
    import pandas as pd
    write_alphafuse_folder(tmp_path / "af")
    imp = read_alphafuse(tmp_path / "af", "toys-af", trust=True, progress=False)
    ds, split = imp.dataset, imp.splits["coldstart"]
    assert ds.user_raw == ["train-0", "train-1", "train-2", "valid-0", "test-0"] and ds.n_items == 12
    assert [ds.sequence(u).tolist() for u in range(ds.n_users)] == [*SEQS["train"], *SEQS["valid"], *SEQS["test"]]
    assert split.info["n_train_users"] == 3 and split.train_sequence(1).tolist() == [7, 8]
    assert len(split.train_sequence(3)) == 0                    # validation users never train
    assert split.valid.inputs.tolist() == [[PAD] * 4, [PAD, PAD, PAD, 2], [PAD, PAD, 2, 9]]
    assert split.train_samples.inputs[5].tolist() == [2, 3, 4, 5] and split.train_samples.targets[5] == 6
    assert split.test.users.tolist() == [4] * 4
    assert imp.embeddings[0][0] == "item_text.npy" and imp.embeddings[0][1][3, 0] == 3
    write_alphafuse(split, tmp_path / "out")
    for fname in (*FILES.values(), "data_statis.df"):
        pd.testing.assert_frame_equal(pd.read_pickle(tmp_path / "out" / fname), pd.read_pickle(tmp_path / "af" / fname))


def test_alphafuse_needs_the_flag(tmp_path):
    write_alphafuse_folder(tmp_path / "af")
    with pytest.raises(DataError, match="--trust_pickle true"):
        read_alphafuse(tmp_path / "af", "x", trust=False)


def test_alphafuse_checks_rows(tmp_path):
    import pandas as pd
    write_alphafuse_folder(tmp_path / "af", emb=False)
    df = pd.read_pickle(tmp_path / "af" / "val_data.df")
    df.loc[2, "len_seq"] = 3
    df.to_pickle(tmp_path / "af" / "val_data.df")
    with pytest.raises(DataError, match=r"val_data\.df: row 2: len_seq=3 but seq holds 2 items"):
        read_alphafuse(tmp_path / "af", "x", trust=True)


def test_unchained_rows_become_pseudo_users():
    inputs = np.array([[PAD, PAD], [PAD, 4], [PAD, 7], [4, 5]])   # row 2 does not continue 4 -> ...
    row_seq, seqs, breaks = chain_sequences(inputs, np.array([4, 5, 8, 6]))
    assert seqs == [[4, 5], [7, 8], [4, 5, 6]] and breaks == 2 and row_seq.tolist() == [0, 0, 1, 2]


@pytest.mark.skipif(not (ZHIHU / "val_data.df").exists(),
                    reason=f"DreamRec's real Zhihu files are not at {ZHIHU} (set PTE_DREAMREC_ZHIHU to their folder)")
def test_real_dreamrec_zhihu_files(tmp_path):
    import pandas as pd
    inputs, targets = read_alphafuse_samples(ZHIHU / "val_data.df", 4838, 10, trust=True)
    original = pd.read_pickle(ZHIHU / "val_data.df")
    assert inputs.shape == (8160, 10) and (inputs[0] == PAD).all()        # first sample: empty prefix, len_seq 1
    assert ALPHAFUSE.rows_to_external(inputs, 4838).tolist() == [list(s) for s in original["seq"]]
    _, seqs, breaks = chain_sequences(inputs, targets)
    assert breaks == 0 and len(seqs) == 1171 and sum(map(len, seqs)) == 8160
    folder = tmp_path / "zhihu"
    folder.mkdir()
    for link, real in {"train_data.df": "val_data.df", "val_data.df": "test_data.df", "test_data.df": "test_data.df",
                       "data_statis.df": "data_statis.df"}.items():
        (folder / link).symlink_to(ZHIHU / real)   # the train file is not public here: val stands in for it
    imp = read_alphafuse(folder, "zhihu", trust=True, progress=False)
    assert imp.dataset.n_items == 4838 and len(imp.splits["coldstart"].test) == 7911 and not imp.notes


# ---------------------------------------------------------------- the command line, end to end

def test_prepare_command_imports_alphafuse(tmp_path):
    seqs = {part: [[(7 * u + k) % 120 for k in range(6)] for u in range(n)]
            for part, n in (("train", 8), ("valid", 2), ("test", 2))}
    write_alphafuse_folder(tmp_path / "af", seqs, seq_size=10, item_num=120)
    args = ("--data", "af-sample", "--raw", str(tmp_path / "af"), "--encoder", "")
    refused = subprocess.run([sys.executable, str(PREPARE), *args], capture_output=True, text=True)
    assert refused.returncode != 0 and "--trust_pickle true" in refused.stderr
    out = run_script(PREPARE, *args, "--trust_pickle", "true").stdout
    assert "coldstart: users 8/2/2 (train/valid/test), samples 48/12/12" in out
    ds = load_dataset("af-sample")
    split = load_split(ds, "coldstart")
    assert split.info["imported"].startswith("rows of train_data.df")
    assert load_embeddings(ds.root / "item_text.npy", ds, "item")[5, 0] == 5
    assert "imported_from" in embedding_meta(ds.root / "item_text.npy")


def test_prepare_command_imports_llmesr(tmp_path):
    folder = tmp_path / "beauty" / "handled"
    folder.mkdir(parents=True)
    lines = [f"{u + 1} {(12 * u + k) % 120 + 1}" for u in range(40) for k in range(12)]
    (folder / "inter.txt").write_text("\n".join(lines) + "\n")
    write_llmesr_pickles(folder, 120, 40)
    args = ("--data", "beauty", "--raw", str(tmp_path / "beauty"), "--trust_pickle", "true", "--encoder", "minilm",
            "--name", "beauty-llmesr")
    out = run_script(PREPARE, *args).stdout
    assert "ts_user=9 ts_item=4 (LLM-ESR)" in out and "item_text.npy: 120 x 4 imported" in out
    again = run_script(PREPARE, *args).stdout
    assert "is up to date" in again and "item_text.npy" not in again   # the imported vectors are kept, not re-encoded
    ds = load_dataset("beauty-llmesr")
    assert load_embeddings(ds.root / "user_text.npy", ds, "user").shape == (40, 4)
    assert json.loads((ds.root / "meta.json").read_text())["ids"] == "LLM-ESR id - 1"
