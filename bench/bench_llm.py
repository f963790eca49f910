"""Profile generation speed: batched (this repository's decoder) vs one sequence at a time, and
the batched decoder with vs without its shared-prefix prompt pass.

    python bench/bench_llm.py                       # bundled SmolLM2, CPU fp32, 1 thread
    python bench/bench_llm.py --threads 2 --dtype bfloat16 --batch_size 64
    python bench/bench_llm.py --n_single 0 --n_prompts 32 --max_new_tokens 32   # the prefix comparison only

Prompts are the real inference prompts of ml-100k (user: inference_base's record, item:
inference_base_item's, each after the head prefill), half users, half items, batched per kind
as run_inference batches them. Every prompt starts with the chat template's system message (the
profile instructions): generate_batch computes that shared prefix once per batch
(share_prefix); the comparison runs every batch both ways, checks the outputs are the same
tokens, and times the prompt pass alone and end to end. Every sequence generates exactly
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
from pte.llm.data import N_CHOOSERS, N_CO_CHOSEN, TrainView, item_record, render, user_record
from pte.llm.generate import GenSettings, _common_prefix_len, _forward_kwarg, _prefill_shared, generate_batch
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
co_chosen = view.item_neighbours(items, N_CO_CHOSEN)
tok = load_tokenizer(MODEL)
urec = {u: user_record(view, u) for u in users}
irec = {i: item_record(view, i, co_chosen[i], N_CHOOSERS, None, SEED) for i in items}
prompts = [render(tok, P.user_prompt(urec[u].text), P.head_prefill("user", urec[u].head)) for u in users] + \
          [render(tok, P.item_prompt(irec[i].text), P.head_prefill("item", irec[i].head)) for i in items]
kinds = ["user"] * len(users) + ["item"] * len(items)
lengths = [len(tok(p, add_special_tokens=False)["input_ids"]) for p in prompts]
model = load_model(MODEL, dtype=DTYPE)
print(f"{len(prompts)} prompts, {np.mean(lengths):.0f} tokens on average (max {max(lengths)}); "
      f"{MAX_NEW_TOKENS} new tokens each; threads={THREADS}, dtype={next(model.parameters()).dtype}, "
      f"load average {os.getloadavg()[0]:.1f}")

import torch  # noqa: E402


KW = _forward_kwarg(model)


def prefill_seconds(batch: list[str], share: bool = False) -> float:
    """The prompt pass alone (what a run spends before its first new token), as generate_batch does it."""
    enc = tok(batch, return_tensors="pt", add_special_tokens=False, padding=True)
    ids, mask = enc["input_ids"], enc["attention_mask"]
    pos = (mask.long().cumsum(-1) - 1).clamp(min=0)
    t = time.perf_counter()
    with torch.inference_mode():
        if not (share and _prefill_shared(model, KW, ids, mask, tok.pad_token_id) is not None):
            model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1)
    return time.perf_counter() - t


# ---- one sequence at a time (transformers' generate, KV cache)
single = single_decode = None
if N_SINGLE > 0:
    t0, n, pre = time.perf_counter(), 0, 0.0
    for p in prompts[:N_SINGLE]:
        enc = tok([p], return_tensors="pt", add_special_tokens=False)
        out = model.generate(**enc, max_new_tokens=MAX_NEW_TOKENS, min_new_tokens=MAX_NEW_TOKENS, do_sample=False)
        n += out.shape[1] - enc["input_ids"].shape[1]
        pre += prefill_seconds([p])
    t_single = time.perf_counter() - t0 - pre
    single, single_decode = n / t_single, n / max(t_single - pre, 1e-9)
    print(f"single sequence : {single:7.1f} new tokens/s ({N_SINGLE} prompts; decode alone {single_decode:.1f}/s)")

# ---- batched, per kind (as run_inference batches), sorted by length, left-padded, KV cache (stopping off:
# every row runs to the end); with and without the shared-prefix prompt pass
batches = []
for kind in ("user", "item"):
    order = sorted((k for k in range(len(prompts)) if kinds[k] == kind), key=lambda k: (-lengths[k], k))
    batches += [order[b:b + BATCH_SIZE] for b in range(0, len(order), BATCH_SIZE)]
shared = [min(_common_prefix_len([tok(prompts[k], add_special_tokens=False)["input_ids"] for k in b]),
              min(lengths[k] for k in b) - 1) for b in batches]
print(f"{len(batches)} batches; shared prefix {np.mean(shared):.0f} tokens a batch "
      f"({sum(p * len(b) for p, b in zip(shared, batches)) / sum(lengths):.0%} of all prompt tokens)")
s = GenSettings(max_new_tokens=MAX_NEW_TOKENS, batch_size=BATCH_SIZE, no_repeat_ngram=0)


def batched_run(share: bool):
    outs, pre, t0 = {}, 0.0, time.perf_counter()
    with torch.inference_mode():
        for b in batches:
            texts = [prompts[k] for k in b]
            outs.update(zip(b, generate_batch(model, tok, texts, s, stop_ids=[], share_prefix=share)))
            pre += prefill_seconds(texts, share)
    return outs, time.perf_counter() - t0 - pre, pre


res = {share: batched_run(share) for share in (False, True)}
n = sum(k for _, k in res[False][0].values())
for share, tag in ((False, "batched"), (True, "batched, shared prefix")):
    _, elapsed, pre = res[share]
    rate, rate_decode = n / elapsed, n / max(elapsed - pre, 1e-9)
    print(f"{tag:22s} ({BATCH_SIZE:3d}): {rate:7.1f} new tokens/s ({len(prompts)} prompts, {elapsed:.0f} s; "
          f"decode alone {rate_decode:.1f}/s)" + (f"  = {rate / single:.1f}x single end to end, "
                                                  f"{rate_decode / single_decode:.1f}x decoding" if single else ""))
same = sum(res[False][0][k] == res[True][0][k] for k in res[False][0])
(_, e0, p0), (_, e1, p1) = res[False], res[True]
print(f"prompt pass : {p0:6.1f} s without, {p1:6.1f} s with the shared prefix ({p0 / p1:.2f}x; "
      f"{sum(lengths) / p0:.0f} prompt tokens/s without)")
print(f"end to end  : {e0:6.1f} s without, {e1:6.1f} s with ({e0 / e1:.2f}x); per profile "
      f"{e0 / len(prompts):.2f} s -> {e1 / len(prompts):.2f} s; same tokens: {same}/{len(prompts)} rows")
per_profile = e1 / len(prompts)
total = ds.n_users + ds.n_items
print(f"all {DATA} profiles ({ds.n_users} users + {ds.n_items} items, {MAX_NEW_TOKENS} tokens each): "
      f"~{per_profile * total / 60:.1f} min batched with the shared prefix (upper bound; "
      f"{e0 / len(prompts) * total / 60:.1f} min without)"
      + (f" vs ~{MAX_NEW_TOKENS * total / single / 60:.0f} min one at a time" if single is not None else ""))
