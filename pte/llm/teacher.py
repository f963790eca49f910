"""Teacher profiles: the targets that (a) distils and (b)/(d) train on.

A teacher profile is grounded: its first field (who the user is / what the item is) and its
collaborative field (the titles most often chosen together with the user's last training
items / with the item) are computed from attributes and *training* interactions, the same
evidence the student's prompt shows (pte.llm.data.user_record / item_record). What a model
writes is the second field, in words.

Backends:
  hf      a local causal LM (default: the bundled SmolLM2). It writes only a user's interests,
          continuing "Enjoys" after the user's own items; an item's "Suited for" is its audience
          (who chose it in training): a 135M model invents facts about films ("fans of The Big
          Bang Theory" for a 1996 comedy), so it is not asked to.
  openai  any OpenAI-compatible chat endpoint (OpenAI, vLLM's server, ...): base URL and key from
          OPENAI_BASE_URL / OPENAI_API_KEY; the model writes the whole line from the same record.
"""
from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from pte.llm import prompts as P
from pte.llm.data import Record, TrainView, audience, audience_words, item_record, own_items, user_record
from pte.llm.generate import GenSettings, Job


WORDS = 12   # a local teacher's words are cut to their first clause, at most this many words


def _job(kind: str, i: int, raw: str, rec: Record, what: str, tokenizer, backend: str) -> Job:
    if backend == "hf":
        msgs, prefill = P.teacher_words_prompt(kind, what), P.WORDS_OPENING[kind]
    else:
        msgs, prefill = P.teacher_line_prompt(kind, rec.text), ""
    prompt = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True) + prefill \
        if tokenizer is not None else ""
    return Job(i, prompt, prefill, msgs, raw, meta={"kind": kind, "head": rec.head, "picks": rec.picks})


def user_job(view: TrainView, u: int, tokenizer, backend: str, max_items: int) -> Job:
    own = "\n".join(f"- {view.ds.item_text(i)}" for i in own_items(view, u, max_items))
    what = f"A user chose, oldest first:\n{own}"
    return _job("user", u, view.ds.user_raw[u], user_record(view, u, max_items=max_items), what, tokenizer, backend)


def item_job(view: TrainView, i: int, co_chosen: list[int], tokenizer, backend: str, n_choosers: int,
             seed: int = 0) -> Job:
    what = f"{view.ds.item_text(i)}. Audience: {audience(view, i)}."
    return _job("item", i, view.ds.item_raw[i], item_record(view, i, co_chosen, n_choosers, seed=seed), what,
                tokenizer, backend)


def computed_item(view: TrainView, i: int, co_chosen: list[int], n_choosers: int, seed: int = 0) -> dict:
    """A local teacher's item profile: every field computed, nothing generated."""
    rec = item_record(view, i, co_chosen, n_choosers, seed=seed)
    return {"id": i, "raw": view.ds.item_raw[i], "text": P.profile("item", rec.head, audience_words(view, i), rec.picks),
            "valid": True, "error": None, "new_tokens": 0, "kind": "item", "head": rec.head, "picks": rec.picks}


def teacher_post(text: str, job: Job) -> str:
    """The profile line: a hosted model's first line as written; a local model's words (up to the
    first ';' or line end) between the computed facts and the computed collaborative field."""
    if not job.prefill:
        return " ".join(P.first_line(text).split())
    words = re.split(r"[;.\n]", text.strip(), maxsplit=1)[0].strip()
    words = " ".join(words.split()[:WORDS]).rstrip(",:- ")
    if not words:
        return ""  # invalid: the retry samples another continuation
    words = " ".join(f"{job.prefill} {words}".split())
    return P.profile(job.meta["kind"], job.meta["head"], words, job.meta["picks"])


def openai_backend(model: str, base_url: str | None = None, api_key: str | None = None, workers: int = 8,
                   timeout: float = 120.0, retries: int = 5):
    """Chat completions from any OpenAI-compatible server (urllib only: no client package needed)."""
    base = (base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/")
    key = api_key or os.environ.get("OPENAI_API_KEY", "")
    if not key and "api.openai.com" in base:
        raise RuntimeError("backend openai: set OPENAI_API_KEY (and OPENAI_BASE_URL for other servers)")

    def one(job: Job, s: GenSettings, sample: bool) -> tuple[str, int]:
        body = {"model": model, "messages": job.messages, "max_tokens": s.max_new_tokens,
                "temperature": s.temperature if sample else 0.0, "top_p": s.top_p if sample else 1.0,
                "seed": s.seed}
        req = urllib.request.Request(f"{base}/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {key}"} if key else {})})
        for attempt in range(retries):
            try:
                with urllib.request.urlopen(req, timeout=timeout) as r:
                    out = json.loads(r.read())
                return out["choices"][0]["message"]["content"] or "", int(out.get("usage", {}).get("completion_tokens", 0))
            except urllib.error.HTTPError as e:
                if e.code not in (429, 500, 502, 503, 504) or attempt == retries - 1:
                    raise RuntimeError(f"{base}: HTTP {e.code}: {e.read()[:300]!r}") from None
            except (urllib.error.URLError, TimeoutError) as e:
                if attempt == retries - 1:
                    raise RuntimeError(f"{base}: {e}") from None
            time.sleep(2 ** attempt)  # rate limits and restarts: back off
        raise AssertionError("unreachable")

    def run(jobs: list[Job], s: GenSettings, sample: bool) -> list[tuple[str, int]]:
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(lambda j: one(j, s, sample), jobs))
    return run
