"""Profile generation speed: batched (this repository's decoder) vs one sequence at a time.

    python bench/bench_llm.py                       # bundled SmolLM2, CPU fp32, 1 thread
    python bench/bench_llm.py --threads 2 --dtype bfloat16 --batch_size 64

Prompts are the real inference prompts of ml-100k (user: inference_base_mask's, item:
inference_base_item's), half users, half items. Every sequence generates exactly
MAX_NEW_TOKENS tokens (stopping disabled), so the rates compare like with like and the
estimate for all profiles is an upper bound (real profiles stop at their line end).
Single-sequence = transformers' generate, one prompt at a time, KV cache on. Rates are
given end to end (prompt pass included, what a user waits for) and for decoding alone
(the prompt pass is timed separately and subtracted), since on a CPU the prompt pass of
~270-token prompts costs about as much as 64 new tokens.

Reference (2-core shared AMD EPYC, fp32, 1 thread, busy neighbours): see the stage report.
"""
import os
import time

import numpy as np

from pte.config import apply_overrides
from pte.data import load_dataset
from pte.llm import prompts as P
from pte.llm.data import TrainView, item_prompt, render, user_prompt_collab
from pte.llm.generate import GenSettings, generate_batch
from pte.llm.model import BUNDLED, load_model, load_tokenizer
from pte.llm.train import setup
from pte.splits import load_split

DATA = "ml-100k"
SETTING = "longtail"
MODEL = BUNDLED
DTYPE = "auto"          # auto (fp32 on CPU) | bfloat16 | float32
THREADS = 1
N_PROMPTS = 64          # batched run: half users, half items
BATCH_SIZE = 32
N_SINGLE = 3            # single-sequence run: this many prompts, one at a time
MAX_NEW_TOKENS = 64
SEED = 0
config = apply_overrides(globals())
setup(SEED, THREADS)

ds = load_dataset(DATA)
view = TrainView(ds, load_split(ds, SETTING))
rng = np.random.default_rng(SEED)
users = sorted(rng.choice(view.train_users, N_PROMPTS // 2, replace=False).tolist())
items = sorted(rng.choice(ds.n_items, N_PROMPTS - len(users), replace=False).tolist())
neigh = view.neighbours(users, 2, "user", among=view.train_users)
sim = view.neighbours(items, 2, "item")
dummy = {j: "Item summary: a film; Suited for: people who like films." for j in range(ds.n_items)}
tok = load_tokenizer(MODEL)
prompts = [render(tok, user_prompt_collab(view, u, neigh[u])[0], P.USER_PREFILL) for u in users] + \
          [render(tok, item_prompt(view, i, sim[i], dummy)[0], P.ITEM_PREFILL) for i in items]
lengths = [len(tok(p, add_special_tokens=False)["input_ids"]) for p in prompts]
model = load_model(MODEL, dtype=DTYPE)
print(f"{len(prompts)} prompts, {np.mean(lengths):.0f} tokens on average (max {max(lengths)}); "
      f"{MAX_NEW_TOKENS} new tokens each; threads={THREADS}, dtype={next(model.parameters()).dtype}, "
      f"load average {os.getloadavg()[0]:.1f}")

import torch  # noqa: E402


def prefill_seconds(batch: list[str]) -> float:
    """The prompt pass alone (what a run spends before its first new token)."""
    enc = tok(batch, return_tensors="pt", add_special_tokens=False, padding=True)
    t = time.perf_counter()
    with torch.inference_mode():
        model(**enc, use_cache=True, logits_to_keep=1)
    return time.perf_counter() - t


# ---- one sequence at a time (transformers' generate, KV cache)
t0, n, pre = time.perf_counter(), 0, 0.0
for p in prompts[:N_SINGLE]:
    enc = tok([p], return_tensors="pt", add_special_tokens=False)
    out = model.generate(**enc, max_new_tokens=MAX_NEW_TOKENS, min_new_tokens=MAX_NEW_TOKENS, do_sample=False)
    n += out.shape[1] - enc["input_ids"].shape[1]
    pre += prefill_seconds([p])
t_single = time.perf_counter() - t0 - pre
single, single_decode = n / t_single, n / max(t_single - pre, 1e-9)
print(f"single sequence : {single:7.1f} new tokens/s ({N_SINGLE} prompts; decode alone {single_decode:.1f}/s)")

# ---- batched: sorted by length, left-padded, KV cache (stopping off: every row runs to the end)
order = np.argsort(lengths)[::-1]
s = GenSettings(max_new_tokens=MAX_NEW_TOKENS, batch_size=BATCH_SIZE, no_repeat_ngram=0)
t0, n, pre = time.perf_counter(), 0, 0.0
with torch.inference_mode():
    for b in range(0, len(order), BATCH_SIZE):
        batch = [prompts[k] for k in order[b:b + BATCH_SIZE]]
        n += sum(k for _, k in generate_batch(model, tok, batch, s, stop_ids=[]))
        pre += prefill_seconds(batch)
elapsed = time.perf_counter() - t0 - pre
batched, batched_decode = n / elapsed, n / max(elapsed - pre, 1e-9)
per_profile = elapsed / len(prompts)
total = ds.n_users + ds.n_items
print(f"batched ({BATCH_SIZE:3d})   : {batched:7.1f} new tokens/s ({len(prompts)} prompts, {elapsed:.0f} s; "
      f"decode alone {batched_decode:.1f}/s)  = {batched / single:.1f}x single end to end, "
      f"{batched_decode / single_decode:.1f}x decoding")
print(f"prompt pass: {pre:.0f} s of {elapsed:.0f} s batched ({sum(lengths) / pre:.0f} prompt tokens/s)")
print(f"all {DATA} profiles ({ds.n_users} users + {ds.n_items} items, {MAX_NEW_TOKENS} tokens each): "
      f"~{per_profile * total / 60:.1f} min batched (upper bound) vs ~{MAX_NEW_TOKENS * total / single / 60:.0f} min "
      f"one at a time")
