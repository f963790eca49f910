"""Resumable generation, profile files and embeddings, the GRPO reward, and one real-model check."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from pte.io import read_jsonl
from pte.llm.generate import GenerationError, GenSettings, Job, run_generation

ROOT = Path(__file__).resolve().parent.parent


def fake_backend(calls: list, fail_after: int | None = None, texts: dict | None = None):
    """A decoder that writes 'User identity: n; User interests: things n; Likely next: Alien (1979).' (or given texts)."""
    def run(jobs, s, sample):
        if fail_after is not None and len(calls) >= fail_after:
            raise KeyboardInterrupt  # stands in for a kill between batches
        calls.append([j.id for j in jobs])
        return [((texts or {}).get(j.id, f" person {j.id}; User interests: things {j.id}; Likely next: Alien (1979)."), 5) for j in jobs]
    return run


def validate(t):
    from pte.llm.prompts import check_profile
    return check_profile(t, "user")


def jobs(n):
    return [Job(i, f"prompt {i}" + "x" * (i % 3), "User identity:", raw=str(i)) for i in range(n)]


def test_resume_after_interruption_keeps_rows_and_writes_none_twice(tmp_path):
    partial = tmp_path / "p.partial.jsonl"
    s = GenSettings(batch_size=3)
    calls: list = []
    with pytest.raises(KeyboardInterrupt):
        run_generation(jobs(10), partial, s, sig="A", backend=fake_backend(calls, fail_after=2), validate=validate)
    first = {r["id"]: r for r in read_jsonl(partial)}
    assert len(first) == 6
    with open(partial, "a") as f:  # a kill in the middle of a write leaves half a line
        f.write('{"id": 99, "text": "User ident')
    calls2: list = []
    rows = run_generation(jobs(10), partial, s, sig="A", backend=fake_backend(calls2), validate=validate)
    assert sorted(rows) == list(range(10))
    assert not set(sum(calls2, [])) & set(first)  # finished rows were not generated again
    ids = [r["id"] for r in read_jsonl(partial)]
    assert sorted(ids) == list(range(10))  # each once (the torn line is dropped on read)
    assert all(rows[i]["text"] == first[i]["text"] for i in first)
    with pytest.raises(GenerationError, match="--force"):  # another configuration never mixes in
        run_generation(jobs(10), partial, s, sig="B", backend=fake_backend([]), validate=validate)


KILL_SCRIPT = textwrap.dedent('''
    import sys, time
    from pte.llm.generate import GenSettings, Job, run_generation
    from pte.llm.prompts import check_profile
    def slow(jobs, s, sample):
        time.sleep(0.4)
        return [(f" person {j.id}; User interests: run {sys.argv[2]}; Likely next: Alien (1979).", 3) for j in jobs]
    run_generation([Job(i, "p" * (i % 5 + 1), "User identity:") for i in range(24)], sys.argv[1],
                   GenSettings(batch_size=2), sig="S", backend=slow, validate=lambda t: check_profile(t, "user"),
                   progress=False)
''')


def test_sigkill_mid_run_then_restart(tmp_path):
    """A real kill -9 while generating: the restart completes the set, nothing lost, nothing twice."""
    script, partial = tmp_path / "gen.py", tmp_path / "out.partial.jsonl"
    script.write_text(KILL_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), str(partial), "1"], env=os.environ.copy())
    deadline = time.time() + 60
    while time.time() < deadline and (not partial.exists() or len(partial.read_text().splitlines()) < 6):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = read_jsonl(partial)
    assert 6 <= len(before) < 24
    subprocess.run([sys.executable, str(script), str(partial), "2"], check=True, env=os.environ.copy(), timeout=120)
    after = read_jsonl(partial)
    assert sorted(r["id"] for r in after) == list(range(24))
    kept = {r["id"]: r["text"] for r in after}
    assert all(kept[r["id"]] == r["text"] and "run 1" in r["text"] for r in before)
    assert sum("run 2" in t for t in kept.values()) == 24 - len(before)


def test_invalid_generations_are_retried_once_then_recorded(tmp_path):
    texts = {3: "", 4: " person 4 with no second field"}
    rows = run_generation(jobs(6), tmp_path / "x.partial.jsonl", GenSettings(batch_size=6), sig="A",
                          backend=fake_backend([], texts=texts), validate=validate)
    assert rows[0]["valid"] and not rows[3]["valid"] and not rows[4]["valid"]
    assert "shape" in rows[3]["error"] or rows[3]["error"] == "empty"


@pytest.fixture()
def tiny_ds():
    from pte.data.dataset import from_interactions
    return from_interactions("tinyds", ["1", "1", "2", "2", "3"], ["a", "b", "b", "c", "a"], np.arange(5),
                             item_info={"a": {"title": "Alien", "genres": "Horror, Sci-Fi"},
                                        "b": {"title": "Babe", "genres": "Children's, Comedy"},
                                        "c": {"title": "Casablanca", "genres": "Drama, Romance"}})


def _row(i, text, valid=True):
    return {"id": i, "raw": str(i), "text": text, "valid": valid, "error": None if valid else "empty"}


def test_finalize_sidecar_row_alignment_and_fallbacks(tiny_ds):
    from pte.embeddings import embedding_meta, load_embeddings
    from pte.encoder import encode
    from pte.llm.profiles import ProfileError, finalize, profile_path
    texts = {2: "User identity: child; User interests: talking pigs.",
             0: "User identity: adult; User interests: space horror."}
    rows = {i: _row(i, t) for i, t in texts.items()}
    # user 1 was never generated and not skipped: an error naming it
    with pytest.raises(ProfileError, match="id 1"):
        finalize(rows, ds=tiny_ds, kind="user", name="u", data="tinyds", setting="longtail", expected=[0, 1, 2],
                 encoder="minilm")
    # an empty generation is an error too, unless a fallback is given
    rows[1] = _row(1, "", valid=False)
    with pytest.raises(ProfileError, match="invalid"):
        finalize(rows, ds=tiny_ds, kind="user", name="u", data="tinyds", setting="longtail", expected=[0, 1, 2],
                 encoder="minilm")
    _, emb = finalize(rows, ds=tiny_ds, kind="user", name="u", data="tinyds", setting="longtail",
                      expected=[0, 1, 2], encoder="minilm", fallback="zeros")
    vec, meta = load_embeddings(emb, tiny_ds, "user"), embedding_meta(emb)
    assert vec.dtype == np.float32 and vec.shape == (3, 384) and meta["dim"] == 384
    assert meta["ids"] == tiny_ds.user_raw and meta["setting"] == "longtail" and meta["encoder"] == "minilm"
    assert meta["fallback_rows"] == {"zeros": [tiny_ds.user_raw[1]]} and np.all(vec[1] == 0)
    ref = encode([texts[0], texts[2]])
    assert np.allclose(vec[0], ref[0], atol=1e-5) and np.allclose(vec[2], ref[1], atol=1e-5)  # row i = id i
    assert [r["id"] for r in read_jsonl(profile_path("tinyds", "longtail", "u"))] == [0, 1, 2]
    # skipped rows (cold users) are explicit too
    _, emb = finalize({0: rows[0]}, ds=tiny_ds, kind="user", name="u2", data="tinyds", setting="coldstart",
                      expected=[0], encoder="minilm", skipped={1: "cold", 2: "cold"})
    meta = embedding_meta(emb)
    assert sorted(meta["fallback_rows"]["zeros"]) == sorted(tiny_ds.user_raw[1:]) and meta["real_rows"] == 1


def test_finalize_embeds_facts_only_when_asked(tiny_ds):
    """--embed facts encodes the profile without the model's sentence; the JSONL keeps the whole line."""
    from pte.embeddings import embedding_meta, load_embeddings
    from pte.encoder import encode
    from pte.llm.profiles import embedded_text, finalize, profile_path
    line = "User identity: an adult who mostly chooses Horror; User interests: space horror; Likely next: Alien (1979)"
    facts = "User identity: an adult who mostly chooses Horror; Likely next: Alien (1979)"
    assert embedded_text(line, "user", "facts") == facts and embedded_text(line, "user") == line
    assert embedded_text("no shape here", "user", "facts") == "no shape here"   # fallback texts stay whole
    assert embedded_text(line, "user", "sentence") == "User interests: space horror"
    with pytest.raises(ValueError, match="embed"):
        embedded_text(line, "user", "words")
    _, emb = finalize({0: _row(0, line)}, ds=tiny_ds, kind="user", name="f", data="tinyds", setting="longtail",
                      expected=[0], encoder="minilm", skipped={1: "cold", 2: "cold"}, embed="facts")
    vec = load_embeddings(emb, tiny_ds, "user")
    assert np.allclose(vec[0], encode([facts])[0], atol=1e-5) and not np.allclose(vec[0], encode([line])[0], atol=1e-3)
    assert embedding_meta(emb)["embed"] == "facts"
    assert read_jsonl(profile_path("tinyds", "longtail", "f"))[0]["text"] == line


def test_rec_reward_prefers_a_profile_naming_the_held_out_items():
    """Real MiniLM: a profile about the held-out items ranks them above negatives better than an unrelated one."""
    from pte.encoder import encode
    from pte.llm.rewards import RecReward, format_reward
    items = ["Alien (1979) — Horror, Sci-Fi", "Aliens (1986) — Action, Horror, Sci-Fi",
             "Babe (1995) — Children's, Comedy", "Casablanca (1942) — Drama, Romance", "Toy Story (1995) — Animation",
             "Sense and Sensibility (1995) — Drama, Romance", "Lion King, The (1994) — Animation, Children's"]
    reward = RecReward(encode(items))
    cand = [0, 1, 2, 3, 4, 5, 6]
    good = " a 30-year-old engineer; User interests: Enjoys space horror like Alien and Aliens, sci-fi monsters; Likely next: Alien (1979)."
    bad = " a 30-year-old engineer; User interests: Enjoys romantic period dramas and talking animals; Likely next: Casablanca (1942)."
    r = reward(completions=[good, bad, ""], heldout=[[0, 1]] * 3, candidates=[cand] * 3)
    assert r[0] > 0.9 and r[0] > r[1] + 0.3 and r[2] == 0.0
    assert format_reward(completions=[good, ""]) == [1.0, 0.0]


@pytest.mark.skipif(os.environ.get("PTE_SKIP_REAL_LLM") == "1", reason="PTE_SKIP_REAL_LLM=1")
def test_bundled_model_loads_and_generates():
    """The converted SmolLM2 loads from the cache and writes a few tokens (batched, left-padded)."""
    from pte.llm.generate import generate_batch
    from pte.llm.model import load_model, load_tokenizer
    tok, model = load_tokenizer(), load_model()
    assert model.config.num_hidden_layers == 30 and tok.eos_token == "<|im_end|>"
    prompts = [tok.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True)
               for q in ("Name a colour.", "What is two plus two? Answer with one word, please, quickly.")]
    outs = generate_batch(model, tok, prompts, GenSettings(max_new_tokens=6, stop_at_newline=False))
    assert len(outs) == 2 and all(t.strip() and 0 < n <= 6 for t, n in outs)
