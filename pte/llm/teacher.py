"""Teacher profiles: the targets that (a) distils and (b)/(d) train on.

Backends:
  openai  any OpenAI-compatible chat endpoint (OpenAI, vLLM's server, ...): base URL and
          key from OPENAI_BASE_URL / OPENAI_API_KEY; the model writes the whole line.
  hf      a local causal LM (default: the bundled SmolLM2). A 135M model cannot hold the
          two-field shape by itself, so it is scaffolded: the factual first field (who the
          user is / what the item is, from attributes and *training* interactions) is
          written out and the model writes the second (interests / suited for).
"""
from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from pte.llm import prompts as P
from pte.llm.data import TrainView, domain_noun, item_categories, own_items, top_categories, user_desc
from pte.llm.generate import GenSettings, Job


def _article(phrase: str) -> str:
    """'an' before a vowel sound ('an 18-year-old', 'an Animation'), else 'a'."""
    w = phrase.split("-")[0].split()[0].lower() if phrase.strip() else ""
    vowel = w[:1] in tuple("aeiou") or w in ("8", "11", "18") or (w.isdigit() and w.startswith("8"))
    return "an" if vowel else "a"


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def user_identity(view: TrainView, u: int) -> str:
    top = top_categories(view.ds, view.sequence(u), 3)
    noun = domain_noun(view.ds)
    desc = user_desc(view.ds, u)
    return f"{_article(desc).capitalize()} {desc}" + (f" who mostly chooses {_join(top)} {noun}s" if top else "")


def audience(view: TrainView, i: int) -> str:
    """Who chose item i in training: count, and the dominant gender/age/occupation when known."""
    users = view.choosers(i)
    if len(users) == 0:
        return "not chosen by any user yet"
    attrs = [view.ds.users[int(u)] for u in users]
    parts = []
    genders = Counter(a.get("gender") for a in attrs if a.get("gender"))
    if genders:
        g, c = genders.most_common(1)[0]
        parts.append(f"{round(100 * c / len(attrs))}% {'male' if g == 'M' else 'female' if g == 'F' else g}")
    ages = [int(a["age"]) for a in attrs if str(a.get("age", "")).isdigit()]
    if ages:
        parts.append(f"median age {int(np.median(ages))}")
    occ = Counter(a.get("occupation") for a in attrs if a.get("occupation") not in (None, "", "other", "none"))
    if occ:
        parts.append(f"top occupation {occ.most_common(1)[0][0]}")
    n = len(users)
    return f"chosen by {n} user{'s' if n != 1 else ''}" + (" (" + ", ".join(parts) + ")" if parts else "")


def item_summary(view: TrainView, i: int) -> str:
    it = view.ds.items[i]
    title = it.get("title") or f"item {view.ds.item_raw[i]}"
    head = f"{title} ({it['year']})" if it.get("year") else title
    cats = item_categories(view.ds, i)
    noun = domain_noun(view.ds)
    if not cats:
        return f"{head}, {audience(view, i)}"
    kinds = "/".join(cats[:3])
    return f"{head}, {_article(kinds)} {kinds} {noun} {audience(view, i)}"


def user_job(view: TrainView, u: int, tokenizer, backend: str, max_items: int) -> Job:
    items = [view.ds.item_text(i) for i in own_items(view, u, max_items)]
    msgs = P.teacher_user(user_desc(view.ds, u), top_categories(view.ds, view.sequence(u), 3), items,
                          scaffolded=backend == "hf")
    prefill = P.teacher_user_scaffold(user_identity(view, u)) if backend == "hf" else ""
    prompt = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True) + prefill \
        if tokenizer is not None else ""
    return Job(u, prompt, prefill, msgs, view.ds.user_raw[u])


def item_job(view: TrainView, i: int, tokenizer, backend: str, n_choosers: int) -> Job:
    ch = [user_desc(view.ds, int(v)) for v in view.choosers(i)[:n_choosers]]
    msgs = P.teacher_item(view.ds.item_text(i), audience(view, i), ch, scaffolded=backend == "hf")
    prefill = P.teacher_item_scaffold(item_summary(view, i)) if backend == "hf" else ""
    prompt = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True) + prefill \
        if tokenizer is not None else ""
    return Job(i, prompt, prefill, msgs, view.ds.item_raw[i])


def scaffold_post(text: str, job: Job) -> str:
    """Keep the model's second field up to its first ';' or line end, and close the sentence."""
    if not job.prefill:
        return " ".join(P.first_line(text).split())
    cont = text.strip().split("\n", 1)[0].split(";", 1)[0].strip().rstrip(",:- ")
    if not cont:
        return ""  # invalid: the retry samples another continuation
    return " ".join(f"{job.prefill} {cont}".split()).rstrip(".") + "."


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
