"""Batched, resumable generation of profiles.

Batching: prompts are sorted by token length so each batch pads little, left-padded,
prefilled once, then decoded with a KV cache; a row that finishes (end of turn, or a
newline when only the first line is wanted) leaves the batch and the cache, so long
answers do not keep finished ones computing. Measured with bench/bench_llm.py on 2
shared CPU cores (batch 32, ~270-token prompts): decoding 6.8x (fp32) / 10.6x (bf16) the
single-sequence rate, 3.4x / 5.5x end to end, where the prompt pass dominates. The batch's
shared prompt prefix (the system message) is computed once and its keys/values reused by
every row (``share_prefix``): same tokens in fp32 (tests/test_generate_prefix.py), prompt
pass 1.60x and end to end 1.37x faster (4.06 -> 2.96 s per profile, 466-token prompts with a
164-token shared prefix, 64 new tokens, fp32, 1 thread; bench/bench_llm.py).

Resuming: each finished row is appended (and fsynced) to ``<name>.partial.jsonl`` as
soon as its batch ends; a restarted run skips ids already there, so a kill loses at
most the batch in flight and no profile is written twice. Rows record a signature
(model, adapter, settings, prompt version): rows made under another configuration are
refused rather than mixed in.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

from pte.io import append_jsonl, read_jsonl


@dataclass
class GenSettings:
    max_new_tokens: int = 64
    batch_size: int = 32
    do_sample: bool = False           # greedy by default: profiles are reproducible
    temperature: float = 0.7          # when sampling (and for the one retry of an invalid row)
    top_p: float = 0.9
    no_repeat_ngram: int = 3          # a 135M model loops without it ("Crime, Crime, Crime...")
    repetition_penalty: float = 1.0   # on generated tokens only
    stop_at_newline: bool = True      # profiles are one line; (b)'s answer lists neighbours after it
    seed: int = 0
    shape: str = ""                   # "user"/"item": hold rows to the profile's shape (ShapeGuide)

    def to_dict(self) -> dict:
        d = asdict(self)
        if not d["shape"]:
            d.pop("shape")  # not a setting of first attempts: keeps their signature stable
        return d


@dataclass
class Job:
    """One profile to write: an internal id, its prompt text (template + prefill), and its prefill."""
    id: int
    prompt: str
    prefill: str = ""
    messages: list = field(default_factory=list)
    raw: str = ""
    meta: dict = field(default_factory=dict)


class GenerationError(RuntimeError):
    """Generation produced something unusable (names the ids and the way out)."""


# ----------------------------------------------------------------- the batched decoder

def _device(model):
    return next(model.parameters()).device


def _forward_kwarg(model) -> str:
    """transformers 5 renamed ``past_key_values`` to ``cache``; support both."""
    import inspect
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def _cache_of(out):
    cache = getattr(out, "cache", None)  # transformers >= 5.2x; older: past_key_values
    return cache if cache is not None else out.past_key_values


def newline_token_ids(tokenizer) -> list[int]:
    """Every token whose text contains a newline (byte-level BPE has several: 'Ċ', 'ĊĊ', '.Ċ'...)."""
    cached = getattr(tokenizer, "_pte_newline_ids", None)
    if cached is not None:
        return cached
    ids = [i for tok, i in tokenizer.get_vocab().items()
           if "\n" in tokenizer.convert_tokens_to_string([tok])]
    tokenizer._pte_newline_ids = sorted(ids)
    return tokenizer._pte_newline_ids


def _ids_containing(tokenizer, chars: str, attr: str) -> set[int]:
    cached = getattr(tokenizer, attr, None)
    if cached is None:
        cached = {i for tok, i in tokenizer.get_vocab().items()
                  if any(c in tokenizer.convert_tokens_to_string([tok]) for c in chars)}
        setattr(tokenizer, attr, cached)
    return cached


class ShapeGuide:
    """Holds rows to the profile's shape while decoding, after a prefill that ends with the
    words field's label ("...; User interests:").

    While a row writes the words, its first clause end (';', '.', a newline, end of turn), or a
    third of the token budget, is replaced by '; <last field>:' (fed token by token). The last
    field is the picks: with ``picks`` (per row, how many titles the record lists) only the
    numbers of listed, not yet picked titles may follow, a comma is fed between them, and the
    row ends after min(N_PICKS, listed) numbers ('(none yet)' is fed where nothing is listed);
    without, the field runs free to a newline or end of turn. The model chooses every word and
    which numbers; only separators are fixed.
    """

    def __init__(self, tokenizer, kind: str, n_rows: int, budget: int, stop: set[int],
                 picks: list[int | None] | None = None):
        from pte.llm.prompts import N_PICKS, NO_ITEMS, fields_of
        self.forced = tokenizer.encode(f"; {fields_of(kind)[-1]}:", add_special_tokens=False)
        self.clause_end = _ids_containing(tokenizer, ";.\n", "_pte_clause_end_ids") | stop
        self.second_end = _ids_containing(tokenizer, "\n", "_pte_newline_set") | stop
        self.phase, self.queue = [1] * n_rows, [[] for _ in range(n_rows)]
        self.field_len = [0] * n_rows  # content tokens written in the current field
        self._start_banned = sorted(self.clause_end)  # a field cannot open with '.', ';', '...' or an end
        self.listed = list(picks) if picks is not None else [None] * n_rows
        self.chosen: list[list[int]] = [[] for _ in range(n_rows)]
        self.want = [None if k is None else min(N_PICKS, k) for k in self.listed]
        # the tokens of " 1" ... " 20"; a number may take several (a tokenizer that splits digits)
        self.number = {k: tuple(tokenizer.encode(f" {k}", add_special_tokens=False)) for k in range(1, 21)}
        self.partial: list[list[int]] = [[] for _ in range(n_rows)]   # tokens of the number being written
        self.comma = tokenizer.encode(",", add_special_tokens=False)
        self.none_yet = tokenizer.encode(f" {NO_ITEMS}", add_special_tokens=False)
        # the words' share of the token budget: what the separator and the picks leave (a third without picks)
        pick_tokens = 1 + max(len(t) for t in self.number.values())
        self.budget = [max(1, budget - len(self.forced) - (pick_tokens * w if w else len(self.none_yet)) - 1)
                       if w is not None else max(1, budget // 3 - len(self.forced)) for w in self.want]

    def _open(self, r: int) -> list[int]:
        """Numbers row r may still pick whose tokens continue what it has written of one."""
        p = tuple(self.partial[r])
        return [k for k, seq in self.number.items() if k <= self.listed[r] and k not in self.chosen[r]
                and len(seq) > len(p) and seq[:len(p)] == p]

    def _unpicked(self, r: int) -> list[int]:
        """Listed numbers row r has not picked yet."""
        return [k for k in range(1, self.listed[r] + 1) if k not in self.chosen[r]]

    def _allowed(self, r: int) -> list[int]:
        return sorted({self.number[k][len(self.partial[r])] for k in self._open(r)})

    def mask(self, logits, rows: list[int]) -> None:
        """A field must not be empty (nor open with '...'); in the picks, only listed numbers."""
        for k, r in enumerate(rows):
            if self.queue[r]:
                continue
            if self.phase[r] == 2 and self.listed[r]:
                allowed = self._allowed(r)
                keep = logits[k, allowed].clone()
                logits[k] = float("-inf")
                logits[k, allowed] = keep
            elif self.field_len[r] == 0:
                logits[k, self._start_banned] = float("-inf")

    def apply(self, rows: list[int], toks: list[int], gens: list[list[int]]) -> tuple[list[int], list[bool]]:
        out, ends = [], []
        for r, t in zip(rows, toks):
            end = False
            if self.queue[r]:
                t = self.queue[r].pop(0)
                end = self.phase[r] == 3 and not self.queue[r]
            elif self.phase[r] == 1 and (t in self.clause_end or len(gens[r]) >= self.budget[r]):
                self.phase[r], self.field_len[r] = 2, 0
                t, *self.queue[r] = self.forced
                if self.listed[r] == 0:   # nothing listed: the field says so and the row ends
                    self.phase[r], self.queue[r] = 3, self.queue[r] + self.none_yet
            elif self.phase[r] == 2 and self.listed[r]:
                self.partial[r].append(t)
                done = [k for k in self._unpicked(r) if self.number[k] == tuple(self.partial[r])]
                if done:
                    self.chosen[r].append(done[0])
                    self.partial[r] = []
                    if len(self.chosen[r]) >= self.want[r]:
                        end = True
                    else:
                        self.queue[r] = list(self.comma)
            elif self.phase[r] == 2 and t in self.second_end:
                end = True
            else:
                self.field_len[r] += 1
            out.append(t)
            ends.append(end)
        return out, ends


def stop_token_ids(tokenizer, model=None, newline: bool = False) -> list[int]:
    ids = set()
    for src in (tokenizer.eos_token_id, getattr(getattr(model, "generation_config", None), "eos_token_id", None)):
        if src is None:
            continue
        ids.update([src] if isinstance(src, int) else src)
    for t in ("<|im_end|>", "<|eot_id|>", "<|endoftext|>"):
        tid = tokenizer.convert_tokens_to_ids(t)
        if isinstance(tid, int) and tid != tokenizer.unk_token_id and tid is not None and tid >= 0:
            ids.add(tid)
    if newline:
        ids.update(newline_token_ids(tokenizer))
    return sorted(ids)


def _banned_ngrams(gen: list[int], n: int) -> set[int]:
    """Tokens that would repeat an n-gram already in ``gen``."""
    if n <= 0 or len(gen) < n:
        return set()
    prefix = tuple(gen[-(n - 1):]) if n > 1 else ()
    return {gen[k + n - 1] for k in range(len(gen) - n + 1) if tuple(gen[k:k + n - 1]) == prefix}


def _pick(logits, gens: list[list[int]], s: GenSettings, sample: bool, rng):
    import torch
    logits = logits.float()
    if s.repetition_penalty != 1.0:
        for r, g in enumerate(gens):
            if g:
                idx = torch.tensor(sorted(set(g)), device=logits.device)
                v = logits[r, idx]
                logits[r, idx] = torch.where(v < 0, v * s.repetition_penalty, v / s.repetition_penalty)
    if s.no_repeat_ngram > 0:
        for r, g in enumerate(gens):
            banned = _banned_ngrams(g, s.no_repeat_ngram)
            if banned:
                logits[r, list(banned)] = float("-inf")
    if not sample:
        return logits.argmax(-1)
    probs = torch.softmax(logits / max(s.temperature, 1e-5), -1)
    if s.top_p < 1.0:
        sp, si = probs.sort(-1, descending=True)
        keep = sp.cumsum(-1) - sp < s.top_p
        sp = sp * keep
        probs = torch.zeros_like(probs).scatter_(-1, si, sp)
    return torch.multinomial(probs / probs.sum(-1, keepdim=True), 1, generator=rng).squeeze(1)


SHARE_PREFIX = True      # generate_batch's default: the batch's common prompt prefix is computed once
MIN_SHARED_PREFIX = 8    # a shorter common prefix is not worth its own forward pass


def _common_prefix_len(rows: list[list[int]]) -> int:
    """Length of the longest common prefix of token-id lists."""
    n = min(len(r) for r in rows)
    first = rows[0]
    for r in rows[1:]:
        k = 0
        while k < n and r[k] == first[k]:
            k += 1
        n = k
    return n


def _expandable(cache) -> bool:
    """A transformers 5 DynamicCache of plain full-attention layers (tensors [batch, heads, seq, dim]):
    one row's keys/values can be repeated per row. Sliding-window, quantised, offloaded, static or
    older (tuple / key_cache list) caches are not: they take the ordinary path."""
    try:
        from transformers.cache_utils import DynamicCache, DynamicLayer
    except ImportError:
        return False
    layers = getattr(cache, "layers", None)
    return (isinstance(cache, DynamicCache) and bool(layers) and not getattr(cache, "offloading", False)
            and all(type(layer) is DynamicLayer and layer.is_initialized for layer in layers))


def _prefill_shared(model, kw: str, ids, mask, pad_id: int | None):
    """The prompt pass with the batch's shared prefix computed once.

    ``ids``/``mask`` are the left-padded batch. The longest common prefix of the rows' tokens
    (at most the shortest row less one token, so every row has a last prompt token of its own)
    runs at batch size 1; its cache is repeated to the batch; then each row's remaining tokens
    run, left-padded *after* the prefix ([prefix | pads | suffix]) with a mask hiding the pads
    and positions that skip them, so every row attends to exactly the tokens, at exactly the
    positions, of the ordinary pass. Returns (output, attention mask over the cache, next
    position per row), or None where sharing does not apply (a batch of one, a prefix shorter
    than MIN_SHARED_PREFIX, a cache that cannot be repeated).
    """
    import torch
    n_rows = ids.shape[0]
    if n_rows < 2:
        return None
    rows = [[t for t, m in zip(r, mr) if m] for r, mr in zip(ids.tolist(), mask.tolist())]
    p = min(_common_prefix_len(rows), min(len(r) for r in rows) - 1)
    if p < MIN_SHARED_PREFIX:
        return None
    dev = ids.device
    prefix = torch.tensor([rows[0][:p]], dtype=ids.dtype, device=dev)
    out = model(input_ids=prefix, attention_mask=torch.ones_like(prefix, dtype=mask.dtype),
                position_ids=torch.arange(p, device=dev)[None], use_cache=True, logits_to_keep=1)
    cache = _cache_of(out)
    if not _expandable(cache):
        return None
    cache.batch_repeat_interleave(n_rows)
    tails = [r[p:] for r in rows]
    width = max(len(t) for t in tails)
    s_ids = torch.full((n_rows, width), pad_id if pad_id is not None else 0, dtype=ids.dtype)
    s_pos = torch.full((n_rows, width), p, dtype=torch.long)
    s_mask = torch.zeros((n_rows, p + width), dtype=mask.dtype)
    s_mask[:, :p] = 1
    for i, t in enumerate(tails):
        s_ids[i, width - len(t):] = torch.tensor(t, dtype=ids.dtype)
        s_pos[i, width - len(t):] = torch.arange(p, p + len(t))
        s_mask[i, p + width - len(t):] = 1
    s_ids, s_pos, s_mask = s_ids.to(dev), s_pos.to(dev), s_mask.to(dev)
    out = model(input_ids=s_ids, attention_mask=s_mask, position_ids=s_pos, use_cache=True, logits_to_keep=1,
                **{kw: cache})
    return out, s_mask, s_pos[:, -1] + 1


def generate_batch(model, tokenizer, prompts: list[str], s: GenSettings, sample: bool | None = None,
                   stop_ids: Iterable[int] | None = None, share_prefix: bool | None = None,
                   picks: list[int | None] | None = None) -> list[tuple[str, int]]:
    """(generated text, number of new tokens) per prompt, one batch, KV-cached, rows leaving when done.

    With ``share_prefix`` (default SHARE_PREFIX) the tokens every prompt starts with (the chat
    template's system message, a shared instruction) go through the model once, not once per
    row (:func:`_prefill_shared`): the prompt pass is cheaper (bench/bench_llm.py, CPU fp32, 1
    thread, ml-100k prompts with a ~164-token shared system message: 1.6x, 1.37x end to end), the
    outputs the same tokens in fp32 (greedy; tests/test_generate_prefix.py). In bf16 the rounding
    differs, as it already does between a batch and one row at a time, so a few rows may take
    other tokens. It falls back to the whole padded batch where sharing does not apply.
    With ``s.shape`` the rows are held to the profile's shape (:class:`ShapeGuide`; ``picks``: per
    row, how many titles its record lists, so the last field can only pick those numbers).
    """
    import torch
    sample = s.do_sample if sample is None else sample
    dev = _device(model)
    stop = torch.tensor(sorted(stop_ids if stop_ids is not None
                               else stop_token_ids(tokenizer, model, s.stop_at_newline)), device=dev)
    side, tokenizer.padding_side = tokenizer.padding_side, "left"  # decoder-only: pad on the left
    enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    tokenizer.padding_side = side
    ids, mask = enc["input_ids"].to(dev), enc["attention_mask"].to(dev)
    pos = (mask.long().cumsum(-1) - 1).clamp(min=0)
    kw = _forward_kwarg(model)
    rng = torch.Generator(device=dev).manual_seed(s.seed)
    gens: list[list[int]] = [[] for _ in prompts]
    active = torch.arange(len(prompts), device=dev)
    guide = ShapeGuide(tokenizer, s.shape, len(prompts), s.max_new_tokens, set(stop.tolist()), picks) \
        if s.shape else None
    share = SHARE_PREFIX if share_prefix is None else share_prefix
    with torch.inference_mode():
        shared = _prefill_shared(model, kw, ids, mask, tokenizer.pad_token_id) if share else None
        if shared is not None:
            out, mask, next_pos = shared
        else:
            out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1)
            next_pos = pos[:, -1] + 1
        cache = _cache_of(out)
        logits = out.logits[:, -1, :]
        for step in range(s.max_new_tokens):
            rows = active.tolist()
            if guide is not None:
                logits = logits.float()
                guide.mask(logits, rows)
            tok = _pick(logits, [gens[r] for r in rows], s, sample, rng)
            if guide is not None:
                toks, ends = guide.apply(rows, tok.tolist(), gens)
                tok = torch.tensor(toks, device=dev)
                done = torch.tensor(ends, device=dev)
            else:
                done = torch.isin(tok, stop)
            for r, t in zip(rows, tok.tolist()):
                gens[r].append(t)
            if step == s.max_new_tokens - 1 or bool(done.all()):
                break
            if bool(done.any()):
                keep = torch.nonzero(~done).squeeze(1)
                cache.batch_select_indices(keep)
                mask, active, tok, next_pos = mask[keep], active[keep], tok[keep], next_pos[keep]
            mask = torch.cat([mask, mask.new_ones(len(active), 1)], 1)
            out = model(input_ids=tok[:, None], attention_mask=mask, position_ids=next_pos[:, None],
                        use_cache=True, **{kw: cache})
            cache = _cache_of(out)
            logits = out.logits[:, -1, :]
            next_pos = next_pos + 1
    stop_set = set(stop.tolist()) | (guide.second_end if guide is not None else set())
    results = []
    for g in gens:
        n = len(g)
        while g and g[-1] in stop_set:
            g = g[:-1]
        results.append((tokenizer.decode(g, skip_special_tokens=True), n))
    return results


def clean(text: str, prefill: str, first_line: bool = True) -> str:
    """The profile: prefill + generated text, first line only, whitespace tidied."""
    text = prefill + text
    if first_line:
        text = text.strip().split("\n", 1)[0]
    return " ".join(text.split())


# ----------------------------------------------------------------- resumable runs

def signature(**parts) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def file_digest(path: str | Path | None) -> str:
    """A short content hash of an adapter's weights (so a retrained adapter is a new configuration)."""
    if not path:
        return ""
    p = Path(path)
    files = sorted(p.glob("adapter_model.*")) if p.is_dir() else [p]
    h = hashlib.sha1()
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def read_done(paths: Iterable[str | Path], sig: str) -> dict[int, dict]:
    """Rows already generated under this signature, from the final file and the partial logs.

    Rows of another signature mean the configuration changed: an error (re-run with
    ``--force true`` to start over) rather than a silent mix of two configurations.
    """
    done: dict[int, dict] = {}
    for p in paths:
        p = Path(p)
        if not p.exists():
            continue
        for r in read_jsonl(p):
            if r.get("signature") != sig:
                raise GenerationError(
                    f"{p}: rows generated with another configuration (model, adapter, settings or prompts "
                    f"changed). Re-run with --force true to start over, or restore the old configuration.")
            i = int(r["id"])
            if i not in done or (r.get("valid", True) and not done[i].get("valid", True)):
                done[i] = r  # the first valid line wins (an invalid one may be followed by its regeneration)
    return done


def drop_torn_tail(path: Path) -> None:
    """Cut a half-written last line (a kill during an append) so the next append starts clean."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as f:
        data = f.read()
        if data.endswith(b"\n"):
            return
        f.truncate(data.rfind(b"\n") + 1)


Backend = Callable[[list[Job], GenSettings, bool], list[tuple[str, int]]]


def hf_backend(model, tokenizer) -> Backend:
    """The default decoder: this module's batched KV-cached loop over rendered prompts."""
    def run(jobs: list[Job], s: GenSettings, sample: bool) -> list[tuple[str, int]]:
        picks = [len(j.meta["options"]) if "options" in j.meta else None for j in jobs]
        return generate_batch(model, tokenizer, [j.prompt for j in jobs], s, sample=sample, picks=picks)
    return run


def run_generation(jobs: list[Job], partial: str | Path, s: GenSettings, *, sig: str, backend: Backend,
                   validate: Callable[[str], str | None], tokenizer=None,
                   postprocess: Callable[[str, Job], str] | None = None, row_meta: dict | None = None,
                   done_from: Iterable[str | Path] = (), desc: str = "profiles", progress: bool = True,
                   retry: bool = True, shape: str = "", retry_invalid: bool = True) -> dict[int, dict]:
    """Generate every job not yet in ``partial`` (or ``done_from``); return all rows by id.

    ``validate(text)`` says why a text is unusable (None if fine); such rows get one
    retry, sampled and (with ``shape``, "user"/"item") held to the profile's shape, then
    are recorded with ``valid: false`` and the reason, so the caller fails naming them (or
    applies an explicit fallback). With ``retry_invalid`` a re-run tries such rows again;
    finished (valid) rows are never generated twice. ``backend`` is the
    decoder: :func:`hf_backend` by default, vLLM or an OpenAI-compatible server otherwise.
    """
    from tqdm.auto import tqdm
    partial = Path(partial)
    drop_torn_tail(partial)
    done = read_done([partial, *done_from], sig)
    post = postprocess or (lambda text, job: clean(text, job.prefill, s.stop_at_newline))
    todo = [j for j in jobs if j.id not in done or (retry_invalid and not done[j.id].get("valid", True))]
    if tokenizer is not None:
        lengths = {j.id: len(tokenizer(j.prompt, add_special_tokens=False)["input_ids"]) for j in todo}
    else:
        lengths = {j.id: len(j.prompt) for j in todo}
    # similar lengths together (longest first fails fast on memory); rows that failed before go last, in
    # batches of their own that start at the retry (their first attempt would only fail again)
    redo = {j.id for j in todo if j.id in done}
    todo.sort(key=lambda j: (j.id in redo, -lengths[j.id], j.id))
    fresh, rest = todo[:len(todo) - len(redo)], todo[len(todo) - len(redo):]
    batches = [part[b:b + s.batch_size] for part in (fresh, rest) for b in range(0, len(part), s.batch_size)]
    bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc=desc, dynamic_ncols=True, disable=not progress)
    n_tokens, t0 = 0, time.perf_counter()
    for b, batch in enumerate(batches):
        again = batch[0].id in redo
        outs = [("", 0)] * len(batch) if again else backend(batch, s, s.do_sample)
        texts = [post(t, j) for (t, _), j in zip(outs, batch)]
        counts = [n for _, n in outs]
        errors = ["failed before" if again else validate(t) for t in texts]
        bad = [k for k, e in enumerate(errors) if e]
        if bad and retry:  # one retry, sampled (greedy would repeat the failure) and held to the shape
            outs2 = backend([batch[k] for k in bad], replace(s, seed=s.seed + 1 + b, shape=shape), True)
            for k, (t, n) in zip(bad, outs2):
                t = post(t, batch[k])
                counts[k] += n
                texts[k], errors[k] = t, validate(t)
        for j, t, e, n in zip(batch, texts, errors, counts):
            row = {"id": j.id, "raw": j.raw, "text": t, "valid": e is None, "error": e, "new_tokens": n,
                   **(row_meta or {}), **j.meta, "signature": sig}
            append_jsonl(partial, row)
            done[j.id] = row
        n_tokens += sum(counts)
        bar.update(len(batch))
        bar.set_postfix(tok_s=f"{n_tokens / max(time.perf_counter() - t0, 1e-9):.0f}")
    bar.close()
    return done
