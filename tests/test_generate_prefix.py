"""generate_batch's shared-prefix prompt pass: the batch's common prompt tokens run once, and the
outputs stay token-identical to the ordinary (whole padded batch) pass; where sharing does not
apply (no common prefix, a batch of one, a cache it cannot repeat) the ordinary pass runs."""
from __future__ import annotations

import os

import pytest

import pte.llm.generate as G
from pte.llm.generate import GenSettings, generate_batch

INSTRUCTION = ("Read the user's history and write one line of profile. Identity: who they are (age, gender, "
               "occupation if known). Interests: the kinds of stories, moods and themes they enjoy, in one "
               "sentence. No names, no lists, no titles; do not repeat the items.")
USERS = [("a 24-year-old male student", ["Toy Story (1995)", "Babe (1995)"]),
         ("a 53-year-old female librarian", ["Casablanca (1942)", "Vertigo (1958)", "Rear Window (1954)",
                                             "The Third Man (1949)"]),
         ("a 35-year-old male engineer who lives in Texas", ["Alien (1979)", "Star Wars (1977)", "Blade Runner (1982)"]),
         ("a 19-year-old female artist", ["Amelie (2001)"]),
         ("a 61-year-old retired man", ["Fargo (1996)", "Heat (1995)", "Seven (1995)", "Psycho (1960)", "Jaws (1975)"])]


def profile_prompts(tok) -> list[str]:
    """Profile-like prompts: system message + shared instruction, then each user's lines, then the prefill."""
    system = f"You write short, factual profiles for a recommender system. {INSTRUCTION}"
    return [tok.apply_chat_template([{"role": "system", "content": system},
                                     {"role": "user", "content": f"User: {d}.\nItems they chose, oldest first:\n"
                                      + "\n".join(f"- {t}" for t in its) + "\nWrite the user's profile in one line."}],
                                    tokenize=False, add_generation_prompt=True) + "User identity:"
            for d, its in USERS]


@pytest.fixture()
def spy(monkeypatch):
    """Records, per generate_batch call, whether the shared-prefix pass ran (True) or fell back (False)."""
    calls: list[bool] = []
    real = G._prefill_shared

    def wrapped(*a, **k):
        out = real(*a, **k)
        calls.append(out is not None)
        return out
    monkeypatch.setattr(G, "_prefill_shared", wrapped)
    return calls


def both(model, tok, prompts, s, spy, **kw):
    off = generate_batch(model, tok, prompts, s, share_prefix=False, **kw)
    assert spy == []  # turned off: not even tried
    on = generate_batch(model, tok, prompts, s, share_prefix=True, **kw)
    return off, on


@pytest.mark.skipif(os.environ.get("PTE_SKIP_REAL_LLM") == "1", reason="PTE_SKIP_REAL_LLM=1")
def test_bundled_model_same_tokens_with_a_shared_prefix(spy):
    """SmolLM2, fp32, greedy, prompts of 139-176 tokens (padding matters), rows stopping at their line end
    at different steps (so rows leave the batch and the repeated cache): the same tokens either way."""
    import torch
    from pte.llm.model import load_model, load_tokenizer
    torch.manual_seed(0)
    tok, model = load_tokenizer(), load_model(device="cpu", dtype="float32")
    prompts = profile_prompts(tok)
    ids = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
    assert len({len(i) for i in ids}) == len(prompts) and G._common_prefix_len(ids) >= 60
    off, on = both(model, tok, prompts, GenSettings(max_new_tokens=24), spy)
    assert spy == [True]
    assert on == off
    assert len({n for _, n in off}) > 1 and all(t.strip() for t, _ in off)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The suite's tiny random Llama (ChatML template; tokenizer trained on a few lines here), its weights
    re-drawn larger: at the default init it writes the same tokens whatever the prompt, which would hide
    a wrong position or mask."""
    import torch
    from pte.llm.model import load_model, load_tokenizer
    from pte.llm.tiny import tiny_llama
    corpus = [INSTRUCTION, *(f"User: {d}. Items: {', '.join(its)}" for d, its in USERS),
              "You write short, factual profiles for a recommender system. User identity: ...; User interests: ..."] * 20
    path = tiny_llama(tmp_path_factory.mktemp("tiny-llama-prefix"), corpus)
    tok, model = load_tokenizer(path), load_model(path, device="cpu")
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 2:
                p.normal_(0, 2 / p.shape[1] ** 0.5)
    return tok, model


def test_tiny_model_same_tokens_rows_finishing_at_different_steps(tiny, spy):
    tok, model = tiny
    prompts = profile_prompts(tok) + [profile_prompts(tok)[1]]  # a duplicate: no suffix of its own to share
    s = GenSettings(max_new_tokens=16, no_repeat_ngram=0, stop_at_newline=False)
    ref = generate_batch(model, tok, prompts, s, stop_ids=[], share_prefix=False)
    assert len({t for t, _ in ref}) == len(prompts) - 1  # each prompt its own text
    # a stop token that ends rows at different steps (some run to the budget): rows leave the batch
    for stop in (i for t, _ in ref for i in tok(t, add_special_tokens=False)["input_ids"]):
        counts = [n for _, n in generate_batch(model, tok, prompts, s, stop_ids=[stop], share_prefix=False)]
        if len(set(counts)) > 2 and max(counts) == s.max_new_tokens:
            break
    else:
        pytest.fail("no token ends rows at different steps")
    off, on = both(model, tok, prompts, s, spy, stop_ids=[stop])
    assert spy == [True] and on == off and [n for _, n in on] == counts
    # no stops at all, and sampling held to the profile's shape (the retry's path): the same too
    for kw in ({"stop_ids": []}, {"sample": True}):
        s2 = GenSettings(max_new_tokens=16, seed=3, shape="user") if "sample" in kw else s
        assert generate_batch(model, tok, prompts, s2, share_prefix=False, **kw) == \
            generate_batch(model, tok, prompts, s2, share_prefix=True, **kw)
    assert spy == [True] * 3


def test_fallbacks(tiny, spy, monkeypatch):
    """No common prefix, one shorter than MIN_SHARED_PREFIX, a batch of one, a cache that cannot be
    repeated: the ordinary pass runs, with the same outputs."""
    tok, model = tiny
    s = GenSettings(max_new_tokens=8, no_repeat_ngram=0, stop_at_newline=False)
    cases = [["Toy Story and more", "Alien (1979) and Star Wars", "Babe"],          # nothing in common
             ["User: a student who likes films", "User: a librarian"],            # a few tokens in common
             profile_prompts(tok)[:1]]                                            # one row
    for prompts in cases:
        ids = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
        assert len(prompts) == 1 or G._common_prefix_len(ids) < G.MIN_SHARED_PREFIX
        spy.clear()
        off, on = both(model, tok, prompts, s, spy)
        assert spy == [False] and on == off
    monkeypatch.setattr(G, "_expandable", lambda cache: False)
    spy.clear()
    off, on = both(model, tok, profile_prompts(tok), s, spy)
    assert spy == [False] and on == off
    monkeypatch.setattr(G, "SHARE_PREFIX", False)  # the module default turns it off for callers that do not ask
    spy.clear()
    generate_batch(model, tok, profile_prompts(tok), s)
    assert spy == []
