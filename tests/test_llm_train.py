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
SETTING = "longtail"  # the teacher files below are written for it; every script is told so explicitly


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, ml100k) -> str:
    """A 2-layer Llama (hidden 32) with a byte-level BPE tokenizer trained on prompt-like text."""
    from pte.llm import prompts as P
    from pte.llm.tiny import tiny_llama
    corpus = [ml100k.item_text(i) for i in range(200)] + [P.SYSTEM, P.USER_SHAPE, P.ITEM_SHAPE,
                                                          "similar users Items they chose Yes No [3]"] * 5
    return tiny_llama(tmp_path_factory.mktemp("tiny-llama"), corpus)


@pytest.fixture(scope="module")
def teacher_files(ml100k, splits):
    """Teacher profiles for a few users/items, written where the scripts look for them."""
    from pte.io import write_jsonl
    from pte.llm.data import TrainView
    from pte.pipeline import teacher_path
    view = TrainView(ml100k, splits[SETTING])
    users, items = view.train_users[:8].tolist(), view.train_items[:8].tolist()
    write_jsonl(teacher_path("ml-100k", SETTING, "user"),
                [{"id": u, "text": f"User identity: person {u}; User interests: films like item {u}; Likely next: "
                                   f"{ml100k.items[u]['title']}", "valid": True} for u in users])
    write_jsonl(teacher_path("ml-100k", SETTING, "item"),
                [{"id": i, "text": f"Item summary: film {i}; Suited for: fans of film {i}; Often chosen with: "
                                   f"{ml100k.items[i + 1]['title']}", "valid": True} for i in items])
    return users, items


def run(script: str, *args: str) -> dict:
    """Run a repository script in this process (imports stay warm), as ``python <script> <args>``."""
    argv = sys.argv
    sys.argv = [script, *args]
    try:
        return runpy.run_path(str(ROOT / script), run_name="__main__")
    finally:
        sys.argv = argv


def lora_weights(adapter: Path) -> dict[str, np.ndarray]:
    """The LoRA tensors of a saved adapter, as float32 arrays."""
    from safetensors.torch import load_file
    return {k: v.float().numpy() for k, v in load_file(str(adapter / "adapter_model.safetensors")).items()}


def test_sft_then_grpo_then_inference(tiny_model, teacher_files, ml100k, monkeypatch):
    from pte.embeddings import embedding_meta, load_embeddings
    from pte.io import read_json, read_jsonl
    from pte.llm.model import read_stage
    from pte.pipeline import adapter_dir, embedding_path, profile_path, train_data_path
    common = ["--model", tiny_model, "--setting", SETTING, "--batch_size", "2", "--max_length", "512"]

    run("llm/lora/sft_base.py", *common, "--steps", "2")
    curve = read_json(adapter_dir("ml-100k", SETTING, "sft_base") / "loss_curve.json")
    assert curve["steps"] == 2 and len(curve["loss"]) == 2 and all(np.isfinite(v) for _, v in curve["loss"])
    assert (adapter_dir("ml-100k", SETTING, "sft_base") / "adapter_model.safetensors").exists()
    rows = read_jsonl(train_data_path("ml-100k", SETTING, "sft_base"))
    assert len(rows) == 8 and rows[0]["messages"][-1]["role"] == "assistant"

    run("llm/lora/sft_base_mask.py", *common, "--steps", "1")
    run("llm/lora/sft_base_item.py", *common, "--steps", "1")
    assert (adapter_dir("ml-100k", SETTING, "sft_base_item") / "adapter_config.json").exists()

    # GRPO continues (b)'s adapter: it must leave different LoRA weights than it started from.
    # 4 prompts, 2 a step: steps 3-4 are a second epoch. Killed at that boundary, it continues from
    # step 2's checkpoint, runs only steps 3-4 and saves the unbroken run's adapter, tensor for tensor
    from trl import GRPOTrainer
    from pte.llm import train
    init = adapter_dir("ml-100k", SETTING, "sft_base_mask")
    before = lora_weights(init)
    grpo_args = ["llm/lora/rlhf/rl_training.py", "--model", tiny_model, "--setting", SETTING, "--steps", "4",
                 "--batch_size", "4", "--num_generations", "2", "--grad_accum", "1", "--n_train_users", "4",
                 "--n_eval_users", "2", "--max_completion", "8"]
    monkeypatch.setattr(train, "CHECKPOINT_EVERY", 1)
    run(*grpo_args)
    unbroken = lora_weights(adapter_dir("ml-100k", SETTING, "grpo"))
    step, steps_run, kill_at = GRPOTrainer.training_step, [], [2]

    def counted(self, *args, **kwargs):
        if self.state.global_step in kill_at:
            raise KeyboardInterrupt("killed")
        steps_run.append(self.state.global_step)
        return step(self, *args, **kwargs)

    monkeypatch.setattr(GRPOTrainer, "training_step", counted)
    with pytest.raises(KeyboardInterrupt):
        run(*grpo_args)
    kill_at.clear()
    run(*grpo_args)
    assert steps_run == [0, 1, 2, 3]                      # steps 0-1 before the kill, then only 2-3
    grpo = adapter_dir("ml-100k", SETTING, "grpo")
    assert not (grpo / "checkpoints").exists()
    assert Path(read_stage(grpo)["parent"]).resolve() == init.resolve()
    after = lora_weights(grpo)
    assert before and after.keys() == before.keys() and all("lora_" in k for k in after)
    assert all(np.isfinite(v).all() for v in after.values())
    changed = [k for k in after if not np.array_equal(after[k], before[k])]
    assert changed, "GRPO saved the adapter it started from unchanged"
    assert after.keys() == unbroken.keys() and all(np.array_equal(after[k], unbroken[k]) for k in after)
    # the reward curve: a finite training reward per step, and the held-out reward before and after
    rc = read_json(grpo / "reward_curve.json")
    assert {"train_reward", "held_out_before", "held_out_after", "reward"} <= rc.keys() and rc["reward"] == "rec"
    assert [s for s, _ in rc["train_reward"]] == [1, 2, 3, 4] and all(np.isfinite(v) for _, v in rc["train_reward"])
    for when in ("held_out_before", "held_out_after"):
        h = rc[when]
        assert {"reward", "rec_ndcg", "format", "n"} <= h.keys(), when
        assert h["n"] >= 1 and all(np.isfinite(h[k]) for k in ("reward", "rec_ndcg", "format")), h
        assert 0 <= h["rec_ndcg"] <= 1 and 0 <= h["format"] <= 1
        assert h["reward"] == pytest.approx(h["rec_ndcg"] + 0.2 * h["format"])  # FORMAT_WEIGHT 0.2

    # a random tiny model writes gibberish: without a fallback that is an error naming ids...
    item_inference = ["--model", tiny_model, "--setting", SETTING, "--max_new_tokens", "6", "--batch_size", "64"]
    with pytest.raises(Exception, match="invalid|missing"):
        run("llm/lora/inference_base_item.py", *item_inference, "--fallback=")
    # ...and with one, every row is accounted for in the sidecar (resuming: nothing regenerated)
    run("llm/lora/inference_base_item.py", *item_inference, "--fallback", "zeros")
    emb = embedding_path("ml-100k", SETTING, "item_profile")
    vec = load_embeddings(emb, ml100k, "item")
    meta = embedding_meta(emb)
    assert vec.shape == (ml100k.n_items, 384) and meta["encoder"] == "minilm" and meta["setting"] == SETTING
    assert meta["ids"] == ml100k.item_raw and meta["adapter"].endswith("sft_base_item")
    n_fallback = len(meta["fallback_rows"].get("zeros", []))
    assert np.all(vec[[ml100k.item_raw.index(r) for r in meta["fallback_rows"].get("zeros", [])]] == 0)
    rows = read_jsonl(profile_path("ml-100k", SETTING, "item_profile"))
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
    from pte.pipeline import adapter_dir
    common = ["--model", tiny_model, "--setting", SETTING, "--batch_size", "2", "--max_length", "512"]
    if not (adapter_dir("ml-100k", SETTING, "sft_base_mask") / "adapter_config.json").exists():
        run("llm/lora/sft_base.py", *common, "--steps", "1")
        run("llm/lora/sft_base_mask.py", *common, "--steps", "1")
    run("llm/lora/sft_base_item.py", *common, "--steps", "1", "--rounds", "2", "--user_steps", "1")
    stage = read_stage(adapter_dir("ml-100k", SETTING, "sft_base_item"))
    assert [(r["round"], r["side"]) for r in stage["rounds"]] == [(1, "item"), (2, "user"), (2, "item")]
    assert stage["user_notes"] is True
    assert read_stage(adapter_dir("ml-100k", SETTING, "sft_base_mask"))["item_notes"] is True
    assert read_json(adapter_dir("ml-100k", SETTING, "sft_base_item") / "loss_curve.json")["steps"] == 1


def test_shape_guide_holds_any_model_to_the_profile_shape(tiny_model):
    """The retry's guide: even a random model's rows, continued after the facts, come out as
    'User identity: x; User interests: y; Likely next: z'."""
    from pte.llm import prompts as P
    from pte.llm.generate import GenSettings, clean, generate_batch
    from pte.llm.model import load_model, load_tokenizer
    tok, model = load_tokenizer(tiny_model), load_model(tiny_model, device="cpu")
    pre = P.head_prefill("user", "A 24-year-old male technician")
    prompts = [tok.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True)
               + pre for q in ("Toy Story", "Alien", "Babe; Casablanca", "x")]
    for seed in range(3):
        outs = generate_batch(model, tok, prompts, GenSettings(max_new_tokens=24, seed=seed, shape="user"), sample=True)
        for t, _ in outs:
            assert P.split_profile(clean(t, pre), "user") is not None, t


def test_the_guide_only_lets_a_row_pick_listed_numbers(tiny_model):
    """Picks: the numbers of listed, not yet picked titles, commas between, min(3, listed) of them;
    '(none yet)' where nothing is listed. Any model, even a random one."""
    import re
    from pte.llm import prompts as P
    from pte.llm.generate import GenSettings, clean, generate_batch
    from pte.llm.model import load_model, load_tokenizer
    tok, model = load_tokenizer(tiny_model), load_model(tiny_model, device="cpu")
    pre = P.head_prefill("user", "A 24-year-old male technician")
    prompts = [tok.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True)
               + pre for q in ("Toy Story", "Alien", "Babe; Casablanca", "x")]
    listed = [6, 2, 0, 5]
    for seed in range(3):
        outs = generate_batch(model, tok, prompts, GenSettings(max_new_tokens=32, seed=seed, shape="user"),
                              sample=True, picks=listed)
        for (t, _), n in zip(outs, listed):
            parts = P.split_profile(clean(t, pre), "user")
            assert parts is not None, t
            if n == 0:
                assert parts[2] == P.NO_ITEMS
                continue
            picked = [int(x) for x in re.findall(r"\d+", parts[2])]
            assert re.fullmatch(r"\d+(, \d+)*", parts[2]) and len(picked) == min(3, n) == len(set(picked)), t
            assert all(1 <= k <= n for k in picked), t


def test_a_killed_sft_resumes_to_the_adapter_of_an_unbroken_run(tiny_model, tmp_path, monkeypatch):
    """Killed after its first checkpoint (a step that raises), the same call runs only the steps
    left and saves the adapter an uninterrupted run saves, tensor for tensor; the checkpoints go."""
    from trl import SFTTrainer
    from pte.llm import train
    from pte.llm.data import Example
    from pte.llm.model import load_tokenizer, trainable_model
    monkeypatch.setattr(train, "CHECKPOINT_EVERY", 2)
    tok = load_tokenizer(tiny_model, padding_side="right")
    examples = [Example(f"e{k}", "kd", k, [{"role": "user", "content": f"user {k} chose film {k}"},
                                           {"role": "assistant", "content": f"User interests: film {k % 3}"}], [])
                for k in range(12)]
    step, steps_run = SFTTrainer.training_step, []

    def counted(self, *args, **kwargs):
        if self.state.global_step == kill_at:
            raise KeyboardInterrupt("killed")
        steps_run.append(self.state.global_step)
        return step(self, *args, **kwargs)

    def trained(out: Path, lr: float = 1e-2) -> dict:
        steps_run.clear()
        train.setup(0)
        train.sft(trainable_model(tiny_model), tok, examples, out, steps=5, batch_size=2, grad_accum=1, lr=lr,
                  max_length=64, seed=0, gradient_checkpointing=False)
        return lora_weights(out)

    monkeypatch.setattr(SFTTrainer, "training_step", counted)
    kill_at = None
    whole = trained(tmp_path / "whole")
    assert steps_run == [0, 1, 2, 3, 4]
    kill_at = 2
    with pytest.raises(KeyboardInterrupt):
        trained(tmp_path / "resumed")
    assert (tmp_path / "resumed" / "checkpoints" / "checkpoint-2").is_dir()
    kill_at = None
    resumed = trained(tmp_path / "resumed")
    assert steps_run == [2, 3, 4]                                   # only the steps after the checkpoint
    assert not (tmp_path / "resumed" / "checkpoints").exists()
    assert resumed.keys() == whole.keys() and all(np.array_equal(resumed[k], whole[k]) for k in whole)
    assert any(np.abs(v).max() > 0 for k, v in whole.items() if "lora_B" in k)   # lora_B starts at 0: it trained
    kill_at = 2                         # a killed run's checkpoints never seed a run of other settings
    with pytest.raises(KeyboardInterrupt):
        trained(tmp_path / "other")
    kill_at = None
    trained(tmp_path / "other", lr=5e-3)
    assert steps_run == [0, 1, 2, 3, 4]
