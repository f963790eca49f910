"""Trainer plumbing with a tiny Llama and a tokenizer built here (no hub, no real LLM):
the stage scripts run end to end for 2 SFT steps and 2 GRPO steps, then write profiles."""
from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, ml100k) -> str:
    """A 2-layer Llama (hidden 32) with a byte-level BPE tokenizer trained on prompt-like text."""
    from pte.llm import prompts as P
    from pte.llm.tiny import tiny_llama
    corpus = [ml100k.item_text(i) for i in range(200)] + [P.SYSTEM, P.USER_SHAPE, P.ITEM_SHAPE,
                                                          "Similar users Neighbour Items they chose Yes No"] * 5
    return tiny_llama(tmp_path_factory.mktemp("tiny-llama"), corpus)


@pytest.fixture(scope="module")
def teacher_files(ml100k, splits):
    """Teacher profiles for a few users/items, written where the scripts look for them."""
    from pte.io import write_jsonl
    from pte.llm.data import TrainView
    from pte.llm.profiles import teacher_path
    view = TrainView(ml100k, splits["longtail"])
    users, items = view.train_users[:8].tolist(), view.train_items[:8].tolist()
    write_jsonl(teacher_path("ml-100k", "longtail", "user"),
                [{"id": u, "text": f"User identity: person {u}; User interests: films like item {u}.", "valid": True}
                 for u in users])
    write_jsonl(teacher_path("ml-100k", "longtail", "item"),
                [{"id": i, "text": f"Item summary: film {i}; Suited for: fans of film {i}.", "valid": True}
                 for i in items])
    return users, items


def run(script: str, *args: str) -> dict:
    """Run a repository script in this process (imports stay warm), as ``python <script> <args>``."""
    argv = sys.argv
    sys.argv = [script, *args]
    try:
        return runpy.run_path(str(ROOT / script), run_name="__main__")
    finally:
        sys.argv = argv


def test_sft_then_grpo_then_inference(tiny_model, teacher_files, ml100k):
    from pte.embeddings import embedding_meta, load_embeddings
    from pte.io import read_json, read_jsonl
    from pte.llm.profiles import adapter_dir, profile_path, train_data_path
    from pte.paths import profile_embedding_path
    common = ["--model", tiny_model, "--batch_size", "2", "--max_length", "512"]

    run("llm/lora/sft_base.py", *common, "--steps", "2")
    curve = read_json(adapter_dir("ml-100k", "longtail", "sft_base") / "loss_curve.json")
    assert curve["steps"] == 2 and len(curve["loss"]) == 2 and all(np.isfinite(v) for _, v in curve["loss"])
    assert (adapter_dir("ml-100k", "longtail", "sft_base") / "adapter_model.safetensors").exists()
    rows = read_jsonl(train_data_path("ml-100k", "longtail", "sft_base"))
    assert len(rows) == 8 and rows[0]["messages"][-1]["role"] == "assistant"

    run("llm/lora/sft_base_mask.py", *common, "--steps", "1")
    run("llm/lora/sft_base_item.py", *common, "--steps", "1")
    assert (adapter_dir("ml-100k", "longtail", "sft_base_item") / "adapter_config.json").exists()

    run("llm/lora/rlhf/rl_training.py", "--model", tiny_model, "--steps", "2", "--batch_size", "4",
        "--num_generations", "2", "--grad_accum", "1", "--n_train_users", "4", "--n_eval_users", "2", "--max_completion", "8")
    rc = read_json(adapter_dir("ml-100k", "longtail", "grpo") / "reward_curve.json")
    assert len(rc["train_reward"]) == 2 and "held_out_before" in rc and "held_out_after" in rc
    assert (adapter_dir("ml-100k", "longtail", "grpo") / "adapter_model.safetensors").exists()

    # a random tiny model writes gibberish: without a fallback that is an error naming ids...
    with pytest.raises(Exception, match="invalid|missing"):
        run("llm/lora/inference_base_item.py", "--model", tiny_model, "--max_new_tokens", "6",
            "--batch_size", "64")
    # ...and with one, every row is accounted for in the sidecar (resuming: nothing regenerated)
    run("llm/lora/inference_base_item.py", "--model", tiny_model, "--max_new_tokens", "6", "--batch_size", "64",
        "--fallback", "zeros")
    emb = profile_embedding_path("ml-100k", "longtail", "item_profile")
    vec = load_embeddings(emb, ml100k, "item")
    meta = embedding_meta(emb)
    assert vec.shape == (ml100k.n_items, 384) and meta["encoder"] == "minilm" and meta["setting"] == "longtail"
    assert meta["ids"] == ml100k.item_raw and meta["adapter"].endswith("sft_base_item")
    n_fallback = len(meta["fallback_rows"].get("zeros", []))
    assert np.all(vec[[ml100k.item_raw.index(r) for r in meta["fallback_rows"].get("zeros", [])]] == 0)
    rows = read_jsonl(profile_path("ml-100k", "longtail", "item_profile"))
    assert len(rows) == ml100k.n_items == len({r["id"] for r in rows})
    assert n_fallback == sum(not r["valid"] for r in rows)
    assert all({"id", "text", "model", "adapter", "gen"} <= r.keys() for r in rows)
    assert json.loads(json.dumps(meta["gen"]))["max_new_tokens"] == 6


def test_batched_generation_matches_one_sequence_at_a_time(tiny_model):
    """Left padding + KV cache + rows leaving the batch change nothing: greedy text equals unbatched."""
    import torch
    from pte.llm.generate import GenSettings, generate_batch
    from pte.llm.model import load_model, load_tokenizer
    torch.manual_seed(0)
    tok, model = load_tokenizer(tiny_model), load_model(tiny_model, device="cpu")
    prompts = [tok.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True)
               for q in ("Toy Story", "Alien (1979) — Horror, Sci-Fi and more words here", "Babe")]
    s = GenSettings(max_new_tokens=12, no_repeat_ngram=0, stop_at_newline=True)
    batched = generate_batch(model, tok, prompts, s)
    single = [generate_batch(model, tok, [p], s)[0] for p in prompts]
    assert batched == single
    # and equal to transformers' own greedy decoding (no stop tokens on either side)
    s = GenSettings(max_new_tokens=8, no_repeat_ngram=0, stop_at_newline=False)
    ours = generate_batch(model, tok, prompts, s, stop_ids=[])
    enc = tok(prompts, return_tensors="pt", add_special_tokens=False, padding=True)
    ref = model.generate(**enc, max_new_tokens=8, min_new_tokens=8, do_sample=False)
    assert [t for t, _ in ours] == tok.batch_decode(ref[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)


def test_bidirectional_rounds(tiny_model, teacher_files):
    """--rounds 2: item profiles annotate a user-side round, user profiles annotate the next item round."""
    from pte.io import read_json
    from pte.llm.model import read_stage
    from pte.llm.profiles import adapter_dir
    common = ["--model", tiny_model, "--batch_size", "2", "--max_length", "512"]
    if not (adapter_dir("ml-100k", "longtail", "sft_base_mask") / "adapter_config.json").exists():
        run("llm/lora/sft_base.py", *common, "--steps", "1")
        run("llm/lora/sft_base_mask.py", *common, "--steps", "1")
    run("llm/lora/sft_base_item.py", *common, "--steps", "1", "--rounds", "2", "--user_steps", "1")
    stage = read_stage(adapter_dir("ml-100k", "longtail", "sft_base_item"))
    assert [(r["round"], r["side"]) for r in stage["rounds"]] == [(1, "item"), (2, "user"), (2, "item")]
    assert stage["user_notes"] is True
    assert read_stage(adapter_dir("ml-100k", "longtail", "sft_base_mask"))["item_notes"] is True
    assert read_json(adapter_dir("ml-100k", "longtail", "sft_base_item") / "loss_curve.json")["steps"] == 1


def test_shape_guide_holds_any_model_to_the_profile_shape(tiny_model):
    """The retry's guide: even a random model's rows come out as 'User identity: x; User interests: y'."""
    from pte.llm import prompts as P
    from pte.llm.generate import GenSettings, clean, generate_batch
    from pte.llm.model import load_model, load_tokenizer
    tok, model = load_tokenizer(tiny_model), load_model(tiny_model, device="cpu")
    prompts = [tok.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True)
               + P.USER_PREFILL for q in ("Toy Story", "Alien", "Babe; Casablanca", "x")]
    for seed in range(3):
        outs = generate_batch(model, tok, prompts, GenSettings(max_new_tokens=20, seed=seed, shape="user"), sample=True)
        for t, _ in outs:
            assert P.split_profile(clean(t, P.USER_PREFILL), "user") is not None, t
