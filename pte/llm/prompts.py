"""Every prompt of the Profile stage, and the profile shapes they ask for.

Builders take plain strings (descriptions, item lines, evidence) and return chat messages;
which ids those strings come from is decided in ``pte.llm.data``, where the leakage rules
live. The shared instruction sits in the system message, so every prompt of a batch starts
with the same tokens and generation computes them once (pte.llm.generate).

A profile is one line of three fields. The first states facts about the subject (computed
from attributes and training interactions, shown in the prompt); the second is the model's
own words; the third is collaborative: titles the interaction record points to (the items most
often chosen together with the user's latest items; the items most often chosen with the item).
  user: "User identity: <who>; User interests: <what they enjoy>; Likely next: <t1>; <t2>; <t3>"
  item: "Item summary: <what it is>; Suited for: <who enjoys it>; Often chosen with: <t1>; <t2>; <t3>"
The record numbers its candidate titles and the model picks by number ("Likely next: 1, 4, 2"):
a choice, not a copy, so it cannot invent or garble a title, and it writes ~20 tokens instead
of ~60. ``resolve`` turns the numbers into the titles the profile (and its embedding) holds.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

# Profiles record this; resuming refuses rows written under other prompts. It hashes this
# file, so any edit to a prompt below counts as a new version.
PROMPT_VERSION = "2-" + hashlib.sha1(Path(__file__).read_bytes()).hexdigest()[:8]

USER_FIELDS = ("User identity", "User interests", "Likely next")
ITEM_FIELDS = ("Item summary", "Suited for", "Often chosen with")
USER_SHAPE = "User identity: ...; User interests: ...; Likely next: ..."
ITEM_SHAPE = "Item summary: ...; Suited for: ...; Often chosen with: ..."
USER_PREFILL = "User identity:"   # generation starts after this, so the shape always opens right
ITEM_PREFILL = "Item summary:"
NO_ITEMS = "(none yet)"
UNPICKED = "(names no listed title)"   # what a line that picks nothing usable shows in its last field
N_PICKS = 3                       # titles in the collaborative field
SYSTEM = (f"You write one-line profiles for a recommender system. A user: \"{USER_SHAPE}\", the last field "
          f"the numbers of the {N_PICKS} listed titles they will most likely choose next. An item: \"{ITEM_SHAPE}\", "
          f"the last field the numbers of the {N_PICKS} listed titles most often chosen with it.")


def _chat(user: str) -> list[dict]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def _list(lines: list[str]) -> str:
    return "\n".join(f"- {t}" for t in lines) if lines else NO_ITEMS


def _numbered(lines: list[str]) -> str:
    return "\n".join(f"{k}. {t}" for k, t in enumerate(lines, 1)) if lines else NO_ITEMS


# ----------------------------------------------------------------- user side

def user_record(desc: str, genres: list[str], items: list[str], candidates: list[str], n_recent: int) -> str:
    """What the Profile stage knows about a user: attributes, most chosen genres, the last
    training items, and the titles most often chosen together with the last ``n_recent`` of
    them (training co-occurrence, strongest first)."""
    return (f"User: {desc}. Most chosen genres: {', '.join(genres) or 'unknown'}.\n"
            f"Items they chose, oldest first:\n{_list(items)}\n"
            f"Most often chosen together with their last {n_recent} items, strongest first:\n"
            f"{_numbered(candidates)}")


def user_prompt(record: str) -> list[dict]:
    """(a), (b) turn 1, (c) and the inference scripts."""
    return _chat(f"{record}\nWrite the user's profile.")


def yes_no_question(item: str) -> str:
    """(b) turn 2: will the user choose this item?"""
    return f"Will this user choose {item}? Answer Yes or No."


YES, NO = "Yes", "No"


# ----------------------------------------------------------------- item side

def item_record(item: str, audience: str, choosers: list[str], co_chosen: list[str]) -> str:
    """What the Profile stage knows about an item: its text, who chose it in training, and the
    items most often chosen together with it (training co-occurrence, strongest first)."""
    chosen = "; ".join(choosers) if choosers else NO_ITEMS
    return (f"Item: {item}.\nAudience: {audience}. For example: {chosen}.\n"
            f"Most often chosen together with it, strongest first:\n{_numbered(co_chosen)}")


def item_prompt(record: str) -> list[dict]:
    """(d) and inference_base_item."""
    return _chat(f"{record}\nWrite the item's profile.")


# ----------------------------------------------------------------- profiles from their parts

def profile(kind: str, head: str, words: str, picks: list[str]) -> str:
    """The one-line profile: a field of facts, the model's words, the collaborative titles."""
    a, b, c = fields_of(kind)
    return f"{a}: {head}; {b}: {words}; {c}: {'; '.join(picks) if picks else NO_ITEMS}"


def answer(kind: str, head: str, words: str, numbers: list[int]) -> str:
    """The model's line: the profile with its collaborative field as the numbers of the picked titles."""
    a, b, c = fields_of(kind)
    return f"{a}: {head}; {b}: {words}; {c}: {', '.join(map(str, numbers)) if numbers else NO_ITEMS}"


def unpicked(line: str, kind: str) -> str:
    """A line whose picks name no listed title, marked so the shape check rejects it (and says why)."""
    parts = split_profile(line, kind)
    return profile(kind, parts[0], parts[1], [UNPICKED]) if parts else line


def resolve(line: str, kind: str, options: list[str]) -> str | None:
    """The profile a model's line stands for: its picked numbers (1-based, into ``options``) become
    titles, in the model's order, repeats and out-of-range numbers dropped, at most N_PICKS. None
    when the line is out of shape or picks nothing usable although there were options."""
    parts = split_profile(line, kind)
    if parts is None:
        return None
    picks = []
    for n in re.findall(r"\d+", parts[2]):
        k = int(n) - 1
        if 0 <= k < len(options) and options[k] not in picks:
            picks.append(options[k])
    if options and not picks:
        return None
    return profile(kind, parts[0], parts[1], picks[:N_PICKS])


def head_prefill(kind: str, head: str) -> str:
    """Generation starts after the facts: the model writes the second and third fields."""
    a, b, _ = fields_of(kind)
    return f"{a}: {head}; {b}:"


WORDS_SYSTEM = "You describe tastes in movies, books or products in a short phrase."


def teacher_words_prompt(kind: str, what: str) -> list[dict]:
    """A local teacher writes only the second field, continuing "Enjoys" / "people who", from what
    the words are about (the user's own items; the item and its audience) and nothing else: shown
    the collaborative evidence, a small model writes about the evidence instead of the tastes."""
    ask = "In a few words, what does this user enjoy?" if kind == "user" else "In a few words, who would enjoy it?"
    return [{"role": "system", "content": WORDS_SYSTEM}, {"role": "user", "content": f"{what}\n{ask}"}]


def teacher_line_prompt(kind: str, record: str) -> list[dict]:
    """A hosted teacher (--backend openai) writes the whole line from the student's record."""
    return _chat(f"{record}\nWrite the {kind}'s profile as ONE line in exactly this form: "
                 f"{USER_SHAPE if kind == 'user' else ITEM_SHAPE}")


WORDS_OPENING = {"user": "Enjoys", "item": "people who"}   # a small model continues these


# ----------------------------------------------------------------- shape checks

_CHAT_MARKUP = re.compile(r"<\|im_(start|end)\|>|<\|endoftext\|>|\[INST\]|</s>")


def fields_of(kind: str) -> tuple[str, str, str]:
    return USER_FIELDS if kind == "user" else ITEM_FIELDS


def prefill_of(kind: str) -> str:
    return USER_PREFILL if kind == "user" else ITEM_PREFILL


def split_profile(text: str, kind: str) -> tuple[str, str, str] | None:
    """(facts, words, collaborative titles) when ``text`` has the kind's shape, else None."""
    a, b, c = fields_of(kind)
    m = re.match(rf"^\s*{a}:\s*(.+?);\s*{b}:\s*(.+?);\s*{c}:\s*(.+?)\s*$", text, flags=re.S)
    return (m.group(1).strip(), m.group(2).strip(), m.group(3).strip()) if m else None


def picks_of(text: str, kind: str) -> list[str]:
    """The titles of a profile's collaborative field."""
    parts = split_profile(text, kind)
    if parts is None or parts[2] == NO_ITEMS:
        return []
    return [t.strip() for t in parts[2].split(";") if t.strip()]


def repetitive(text: str, min_words: int = 12, min_distinct: float = 0.4) -> bool:
    words = re.findall(r"\w+", text.lower())
    return len(words) >= min_words and len(set(words)) / len(words) < min_distinct


def check_profile(text: str, kind: str, min_words: int = 6) -> str | None:
    """Why ``text`` is not a usable profile (None when it is)."""
    if not text or not text.strip():
        return "empty"
    if _CHAT_MARKUP.search(text):
        return "chat markup in the text"
    parts = split_profile(text, kind)
    if parts is None:
        return f"not in the shape '{USER_SHAPE if kind == 'user' else ITEM_SHAPE}'"
    if any(len(re.findall(r"\w+", p)) < 1 for p in parts) or len(re.findall(r"\w+", text)) < min_words:
        return "too short"
    if re.fullmatch(r"[\d,;\s]+", parts[2]) or parts[2] == UNPICKED:
        return "the collaborative field names no listed title"
    if repetitive(text):
        return "repetitive"
    return None


def format_score(text: str, kind: str) -> float:
    """In [0, 1]: shape 0.5, non-repetitive 0.25, 12-90 words 0.25 (GRPO's format term)."""
    if not text or not text.strip():
        return 0.0
    score = 0.5 if split_profile(text, kind) is not None else 0.0
    n = len(re.findall(r"\w+", text))
    score += 0.25 * (not repetitive(text)) + 0.25 * (12 <= n <= 90)
    return score


def first_line(text: str) -> str:
    """The profile line of a multi-line answer."""
    return text.strip().split("\n", 1)[0].strip()
