"""Device check of the Profile stage's GPU paths, with tiny models built here (no downloads).

    python bench/gpu_check_llm.py          # on a CUDA machine (also runs on CPU, as a smoke test)
    python bench/gpu_check_llm.py --smollm2_dir .gpu/smollm2   # + timings on SmolLM2-135M's architecture

``--smollm2_dir``: a folder with SmolLM2-135M-Instruct's config.json, generation_config.json,
tokenizer.json, tokenizer_config.json and chat_template.jinja (no weights: they do not travel).
The model is built from that config with random weights (bf16 on CUDA) and timed on realistic
sizes: batched profile generation (~270-token prompts, 64 new tokens forced) at each
``--batch_sizes`` vs one sequence at a time, extrapolated to 943 users + 1682 items; LoRA SFT
steps/s through pte.llm.train.sft; GRPO steps/s through trl's trainer as rl_training.py builds it
(pte.llm.train.grpo_trainer), with the repo's rewards. Random
weights decode as fast as trained ones (the loop is the same; no early stops: stop ids empty).

Checks: loading picks CUDA + bf16; the batched decoder runs on the GPU and agrees with
one-at-a-time decoding; SFT (bf16, LoRA) lowers the loss; GRPO (trl) runs with the
recommendation reward computed by a sentence encoder on the GPU. Prints one line each.
"""
import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from pte.llm.data import Example
from pte.llm.generate import GenSettings, generate_batch, stop_token_ids
from pte.llm.model import load_model, load_tokenizer, pick_device, pick_dtype, precision_kwargs, trainable_model
from pte.llm.rewards import RecReward, format_reward
from pte.llm.tiny import tiny_llama as make_tiny_llama
from pte.llm.train import setup, sft

WORDS = ("alien horror space comedy drama romance family kids war crime thriller musical western noir "
         "documentary animation adventure fantasy mystery user identity interests item summary suited for "
         "enjoys likes young old male female student engineer writer doctor film films").split()


def tiny_llama(root: Path) -> str:
    rng = np.random.default_rng(0)
    corpus = [" ".join(rng.choice(WORDS, 12)) + "; User interests: " + " ".join(rng.choice(WORDS, 5))
              for _ in range(300)]
    return make_tiny_llama(root / "llama", corpus, vocab=400, hidden=64)


def tiny_encoder(root: Path) -> str:
    from sentence_transformers import SentenceTransformer, models
    from tokenizers import Tokenizer, models as tm, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast
    tok = Tokenizer(tm.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer()
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(WORDS * 3, trainers.WordPieceTrainer(vocab_size=200, special_tokens=[
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")
    bert = root / "bert"
    fast.save_pretrained(bert)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(fast), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64)).save_pretrained(bert)
    word = models.Transformer(str(bert))
    st = SentenceTransformer(modules=[word, models.Pooling(word.get_word_embedding_dimension(), "mean")])
    st.save(str(root / "encoder"))
    return str(root / "encoder")


def tiny_checks(root: Path, device: str) -> None:
    llama, encoder = tiny_llama(root), tiny_encoder(root)
    tok, model = load_tokenizer(llama), load_model(llama)
    assert next(model.parameters()).device.type == torch.device(device).type
    prompts = [tok.apply_chat_template([{"role": "user", "content": " ".join(WORDS[k:k + n])}], tokenize=False,
                                       add_generation_prompt=True) + "User identity:"
               for k, n in ((0, 3), (5, 9), (2, 5), (10, 14))]
    s = GenSettings(max_new_tokens=16, no_repeat_ngram=0, stop_at_newline=False)
    t0 = time.perf_counter()
    batched = generate_batch(model, tok, prompts, s)
    single = [generate_batch(model, tok, [p], s)[0] for p in prompts]
    agree = np.mean([b[0] == a[0] for b, a in zip(batched, single)])
    print(f"generate: batched vs one-at-a-time greedy agree on {agree:.0%} of rows "
          f"({time.perf_counter() - t0:.1f} s; bf16 padding can flip near-ties)")
    sampled = generate_batch(model, tok, prompts, GenSettings(max_new_tokens=8, do_sample=True), sample=True)
    print(f"sampling on {device}: ok, {sum(n for _, n in sampled)} tokens")

    examples = [Example(f"e{k}", "kd", k, [{"role": "system", "content": "Profile."},
                                          {"role": "user", "content": " ".join(WORDS[k:k + 6])},
                                          {"role": "assistant", "content": f"User identity: {WORDS[k]}; "
                                                                          f"User interests: {WORDS[k + 1]} films."}],
                        []) for k in range(16)]
    peft_model = trainable_model(llama)
    res = sft(peft_model, load_tokenizer(llama, "right"), examples, root / "sft", steps=12, batch_size=4, grad_accum=1,
              lr=3e-3, max_length=256, seed=0, gradient_checkpointing=True)
    print(f"SFT on {device}: loss {res['start']:.3f} -> {res['end']:.3f} ({res['steps']} steps)")
    assert res["end"] < res["start"]

    from datasets import Dataset
    from trl import GRPOConfig
    from pte.encoder import encode
    from pte.llm.train import grpo_trainer
    items = [" ".join(WORDS[k:k + 3]) for k in range(20)]
    reward = RecReward(encode(items, encoder), encoder)
    rows = [{"prompt": p, "heldout": [k, k + 1], "candidates": [k, k + 1] + [j for j in range(20) if j not in (k, k + 1)][:8]}
            for k, p in enumerate(prompts)]
    policy = trainable_model(llama)
    policy.get_base_model().generation_config.eos_token_id = stop_token_ids(tok, policy.get_base_model(), newline=True)
    args = GRPOConfig(output_dir=str(root / "grpo"), max_steps=2, per_device_train_batch_size=4, num_generations=4,
                      max_completion_length=12, logging_steps=1, save_strategy="no", report_to="none",
                      remove_unused_columns=False, reward_weights=[1.0, 0.2], **precision_kwargs(False))
    trainer = grpo_trainer(model=policy, reward_funcs=[reward, format_reward], args=args,
                           train_dataset=Dataset.from_list(rows), processing_class=tok)
    trainer.train()
    rewards = [h["reward"] for h in trainer.state.log_history if "reward" in h]
    print(f"GRPO on {device}: {len(rewards)} steps, rewards {[round(r, 3) for r in rewards]}")


# ----------------------------------------------------------------- timings on SmolLM2-135M's architecture

N_USERS, N_ITEMS = 943, 1682  # ml-100k: the profiles one full inference pass writes
TITLE_WORDS = ("Star Wars Return Jedi Godfather Fargo Scream Titanic Contact Toy Story Heat Casino Babe Seven "
               "Twister Evita Emma Liar Rock Independence Day Mission Impossible English Patient Jerry Maguire "
               "Full Monty Air Force One Game Saint Volcano Spawn Alien Resurrection Men Black Lost World").split()
GENRES = "Action Adventure Animation Comedy Crime Drama Fantasy Horror Musical Mystery Romance Sci-Fi Thriller War".split()


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def build_smollm2(src: Path, root: Path, layers: int = 0) -> str:
    """A HF folder with SmolLM2-135M's config and tokenizer and random weights (saved fp32, loaded as pick_dtype)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast
    dest = root / "smollm2-random"
    dest.mkdir(parents=True, exist_ok=True)
    try:
        tok = AutoTokenizer.from_pretrained(src)
    except Exception as e:  # an older transformers may not know the saved tokenizer class
        print(f"AutoTokenizer failed ({type(e).__name__}: {e}); using PreTrainedTokenizerFast")
        tc = json.loads((src / "tokenizer_config.json").read_text())
        tok = PreTrainedTokenizerFast(tokenizer_file=str(src / "tokenizer.json"),
                                      **{k: tc[k] for k in ("bos_token", "eos_token", "pad_token", "unk_token") if k in tc})
        tok.chat_template = (src / "chat_template.jinja").read_text()
    tok.save_pretrained(dest)
    cfg = AutoConfig.from_pretrained(src)
    if layers:
        cfg.num_hidden_layers = layers  # CPU smoke runs only
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    model.save_pretrained(dest)
    shutil.copy(src / "generation_config.json", dest / "generation_config.json")
    n = sum(p.numel() for p in model.parameters())
    print(f"smollm2 (random weights): {cfg.num_hidden_layers} layers, hidden {cfg.hidden_size}, "
          f"{n / 1e6:.1f}M parameters, vocab {cfg.vocab_size}")
    return str(dest)


def synthetic_chats(tok, n: int, target: int, seed: int = 0) -> list[list[dict]]:
    """User prompts (the real builders) over made-up titles, grown to about ``target`` prompt tokens."""
    from pte.llm import prompts as P
    from pte.llm.data import RECENT_ITEMS, render
    rng = np.random.default_rng(seed)
    chats = []
    for u in range(n):
        want = int(target * rng.uniform(0.9, 1.1))
        desc = f"a {int(rng.integers(18, 70))}-year-old {rng.choice(['male', 'female'])} {rng.choice(WORDS[22:])}"
        items: list[str] = []
        while True:
            title = " ".join(rng.choice(TITLE_WORDS, int(rng.integers(1, 5))))
            items.append(f"{title} ({int(rng.integers(1930, 1999))}; {', '.join(rng.choice(GENRES, 2, replace=False))})")
            msgs = P.user_prompt(P.user_record(desc, list(GENRES[:3]), items, items[:6], RECENT_ITEMS))
            if len(tok(render(tok, msgs, P.USER_PREFILL), add_special_tokens=False)["input_ids"]) >= want:
                break
        chats.append(msgs)
    return chats


def time_generation(path: str, n_prompts: int, prompt_tokens: int, batch_sizes: list[int], new_tokens: int,
                    single_n: int) -> None:
    from pte.llm import prompts as P
    from pte.llm.data import render
    tok, model = load_tokenizer(path), load_model(path)
    print(f"generation model: {next(model.parameters()).device}, {next(model.parameters()).dtype}")
    chats = synthetic_chats(tok, n_prompts, prompt_tokens)
    prompts = [render(tok, m, P.USER_PREFILL) for m in chats]
    lengths = [len(tok(p, add_special_tokens=False)["input_ids"]) for p in prompts]
    order = np.argsort(lengths)[::-1]  # as run_generation: similar lengths together, longest first
    prompts = [prompts[k] for k in order]
    print(f"prompts: {len(prompts)}, tokens mean {np.mean(lengths):.0f} (min {min(lengths)}, max {max(lengths)})")
    s = GenSettings(max_new_tokens=new_tokens)  # the real defaults (greedy, no-repeat 3), 64 tokens forced

    generate_batch(model, tok, prompts[:4], GenSettings(max_new_tokens=4), stop_ids=[])  # warm-up
    sync()
    t0 = time.perf_counter()
    n_single = 0
    for p in prompts[:single_n]:
        n_single += generate_batch(model, tok, [p], s, stop_ids=[])[0][1]
    sync()
    t_single = time.perf_counter() - t0
    single_rate = n_single / t_single
    print(f"TIMING generate single-sequence: {single_n} prompts, {n_single} new tokens in {t_single:.2f} s = "
          f"{single_rate:.0f} new tok/s, {t_single / single_n:.3f} s/profile; all {N_USERS}+{N_ITEMS} profiles "
          f"~{(N_USERS + N_ITEMS) * t_single / single_n / 60:.1f} min")
    for bs in batch_sizes:
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        generate_batch(model, tok, prompts[:bs], GenSettings(max_new_tokens=2), stop_ids=[])  # warm-up at this shape
        sync()
        t0 = time.perf_counter()
        n_tok = 0
        for b in range(0, len(prompts), bs):
            n_tok += sum(n for _, n in generate_batch(model, tok, prompts[b:b + bs], s, stop_ids=[]))
        sync()
        t = time.perf_counter() - t0
        mem = f", peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB" if torch.cuda.is_available() else ""
        print(f"TIMING generate batch {bs}: {len(prompts)} prompts, {n_tok} new tokens in {t:.2f} s = "
              f"{n_tok / t:.0f} new tok/s ({n_tok / t / single_rate:.1f}x single), {t / len(prompts) * 1000:.1f} ms/profile; "
              f"all {N_USERS}+{N_ITEMS} profiles ~{(N_USERS + N_ITEMS) * t / len(prompts):.1f} s{mem}")
    del model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def time_sft(path: str, root: Path, steps: int, batch_size: int, max_length: int, prompt_tokens: int,
             gradient_checkpointing: bool) -> None:
    from pte.llm import prompts as P
    tok = load_tokenizer(path, "right")
    chats = synthetic_chats(tok, max(4 * batch_size, batch_size * (steps + 2)), prompt_tokens, seed=1)
    rng = np.random.default_rng(1)
    examples = [Example(f"s{k}", "kd", k, m + [{"role": "assistant", "content": (
        f"{P.USER_PREFILL} {' '.join(rng.choice(WORDS, 8))}; User interests: {', '.join(rng.choice(GENRES, 3))} "
        f"films, {' '.join(rng.choice(WORDS, 10))}")}], []) for k, m in enumerate(chats)]
    times = {}
    for n in (2, steps):  # the difference removes set-up (tokenising, trainer, first-step compile)
        model = trainable_model(path)
        sync()
        t0 = time.perf_counter()
        res = sft(model, load_tokenizer(path, "right"), examples, root / f"sft{n}", steps=n, batch_size=batch_size,
                  grad_accum=1, lr=3e-4, max_length=max_length, seed=0, gradient_checkpointing=gradient_checkpointing)
        sync()
        times[n] = time.perf_counter() - t0
        assert res["steps"] == n, res
        del model
    rate = (steps - 2) / max(times[steps] - times[2], 1e-9)
    print(f"TIMING SFT (LoRA r=8, batch {batch_size}, max_length {max_length}, gradient checkpointing "
          f"{gradient_checkpointing}, {precision_kwargs(gradient_checkpointing)}): {rate:.2f} steps/s "
          f"({rate * batch_size:.1f} examples/s) steady; {steps} steps in {times[steps]:.1f} s incl. set-up")


def time_grpo(path: str, root: Path, encoder: str, steps: int, batch_size: int, num_generations: int,
              completion: int, prompt_tokens: int) -> None:
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig
    from pte.encoder import encode
    from pte.llm import prompts as P
    from pte.llm.data import render
    from pte.llm.train import grpo_trainer
    tok = load_tokenizer(path)
    n_prompts = max(8, steps * batch_size // num_generations + 2)
    prompts = [render(tok, m, P.USER_PREFILL) for m in synthetic_chats(tok, n_prompts, prompt_tokens, seed=2)]
    items = [" ".join(np.random.default_rng(k).choice(WORDS, 4)) for k in range(200)]
    reward = RecReward(encode(items, encoder), encoder)
    rng = np.random.default_rng(2)
    rows = []
    for p in prompts:  # 3 held-out items first, then 20 negatives (rl_training's K_HOLDOUT, N_NEGATIVES)
        c = [int(x) for x in rng.choice(len(items), 23, replace=False)]
        rows.append({"prompt": p, "heldout": c[:3], "candidates": c})
    policy = trainable_model(path)
    policy.get_base_model().generation_config.eos_token_id = stop_token_ids(tok, policy.get_base_model(), newline=True)
    args = GRPOConfig(output_dir=str(root / "grpo-t"), max_steps=steps, per_device_train_batch_size=batch_size,
                      num_generations=num_generations, gradient_accumulation_steps=1, learning_rate=2e-4, beta=0.04,
                      temperature=1.0, max_completion_length=completion, logging_steps=1, save_strategy="no",
                      report_to="none", remove_unused_columns=False, lr_scheduler_type="constant",
                      reward_weights=[1.0, 0.2], seed=0, **precision_kwargs(False))

    class Clock(TrainerCallback):
        def __init__(self):
            self.t = []

        def on_step_end(self, args, state, control, **kw):
            sync()
            self.t.append(time.perf_counter())

    clock = Clock()
    trainer = grpo_trainer(model=policy, reward_funcs=[reward, format_reward], args=args,
                           train_dataset=Dataset.from_list(rows), processing_class=tok, callbacks=[clock])
    t0 = time.perf_counter()
    trainer.train()
    total = time.perf_counter() - t0
    steady = (len(clock.t) - 1) / (clock.t[-1] - clock.t[0]) if len(clock.t) > 1 else float("nan")
    lens = [h["completions/mean_length"] for h in trainer.state.log_history if "completions/mean_length" in h]
    dtype = next(trainer.model.parameters()).dtype
    print(f"TIMING GRPO (trl, batch {batch_size}, {num_generations} generations, completion <= {completion}, "
          f"beta 0.04, RecReward + format_reward, model {dtype}): {steady:.2f} steps/s steady after the first "
          f"({steady * batch_size:.1f} completions/s); {len(clock.t)} steps in {total:.1f} s incl. first; "
          f"completion mean length {np.mean(lens) if lens else float('nan'):.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smollm2_dir", default="", help="SmolLM2-135M config + tokenizer folder: run the timings")
    ap.add_argument("--skip_tiny", action="store_true", help="timings only")
    ap.add_argument("--layers", type=int, default=0, help="override the layer count (CPU smoke runs only)")
    ap.add_argument("--n_prompts", type=int, default=256)
    ap.add_argument("--prompt_tokens", type=int, default=270)
    ap.add_argument("--batch_sizes", default="64,256")
    ap.add_argument("--new_tokens", type=int, default=64)
    ap.add_argument("--single_n", type=int, default=8)
    ap.add_argument("--sft_steps", type=int, default=12)
    ap.add_argument("--sft_batch", type=int, default=8)
    ap.add_argument("--sft_max_length", type=int, default=512)
    ap.add_argument("--sft_checkpointing", type=int, default=1, help="gradient checkpointing (sft's default: on)")
    ap.add_argument("--grpo_steps", type=int, default=6)
    ap.add_argument("--grpo_batch", type=int, default=8)
    ap.add_argument("--grpo_generations", type=int, default=8)
    ap.add_argument("--grpo_completion", type=int, default=64)
    a = ap.parse_args()

    setup(0, 0)
    root = Path(tempfile.mkdtemp(prefix="pte-gpu-check-"))
    device = pick_device()
    print(f"device {device} ({torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu'}), "
          f"dtype {pick_dtype(device)}, trainer precision {precision_kwargs(False)}")
    import transformers
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")
    if not a.skip_tiny:
        tiny_checks(root, device)
        print("gpu_check_llm: all checks passed")
    if a.smollm2_dir:
        path = build_smollm2(Path(a.smollm2_dir), root, a.layers)
        encoder = tiny_encoder(root / "enc")
        checks = (("generation", lambda: time_generation(path, a.n_prompts, a.prompt_tokens,
                                                          [int(b) for b in a.batch_sizes.split(",")],
                                                          a.new_tokens, a.single_n)),
                  ("SFT", lambda: time_sft(path, root, a.sft_steps, a.sft_batch, a.sft_max_length, a.prompt_tokens,
                                           bool(a.sft_checkpointing))),
                  ("GRPO", lambda: time_grpo(path, root, encoder, a.grpo_steps, a.grpo_batch, a.grpo_generations,
                                             a.grpo_completion, a.prompt_tokens)))
        failed = []
        for name, fn in checks:  # one failing timing does not hide the others
            try:
                fn()
            except Exception as e:
                import traceback
                traceback.print_exc()
                print(f"TIMING {name}: FAILED ({type(e).__name__}: {e})")
                failed.append(name)
        print("gpu_check_llm timings: " + ("failed: " + ", ".join(failed) if failed else "done"))
        if failed:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
