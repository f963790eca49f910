"""Every prompt of the Profile stage, and the profile shapes they ask for.

Builders take plain strings (descriptions, item lines, profiles) and return chat
messages; which ids those strings come from is decided in ``pte.llm.data``, where the
leakage rules live. Prompts are short on purpose: on a 2-core CPU the prompt tokens
of ~2,600 profiles cost as much as generating them.

Shapes (one line each):
  user: "User identity: <who>; User interests: <what they like>"
  item: "Item summary: <what it is>; Suited for: <who would like it>"
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

# Profiles record this; resuming refuses rows written under other prompts. It hashes this
# file, so any edit to a prompt below counts as a new version.
PROMPT_VERSION = "1-" + hashlib.sha1(Path(__file__).read_bytes()).hexdigest()[:8]
SYSTEM = "You write short, factual profiles for a recommender system."

USER_FIELDS = ("User identity", "User interests")
ITEM_FIELDS = ("Item summary", "Suited for")
USER_PREFILL = "User identity:"   # generation starts after this, so the shape always opens right
ITEM_PREFILL = "Item summary:"
USER_SHAPE = "User identity: ...; User interests: ..."
ITEM_SHAPE = "Item summary: ...; Suited for: ..."
NO_ITEMS = "(none yet)"


def _items_block(items: list[str], notes: list[str | None] | None = None) -> str:
    if not items:
        return NO_ITEMS
    notes = notes or [None] * len(items)
    return "\n".join(f"- {t}" + (f" [suited for: {n}]" if n else "") for t, n in zip(items, notes))


def _chat(user: str) -> list[dict]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


# ----------------------------------------------------------------- user side

def user_kd(desc: str, items: list[str], notes: list[str | None] | None = None) -> list[dict]:
    """(a) and inference_base: the user's own training items only."""
    return _chat(f"User: {desc}.\nItems they chose, oldest first:\n{_items_block(items, notes)}\n"
                 f"Write the user's profile in one line: {USER_SHAPE}")


def user_collab(desc: str, items: list[str], neighbours: list[tuple[str, list[str]]],
                notes: list[str | None] | None = None) -> list[dict]:
    """(b), (c) and inference_base_mask, turn 1: own items plus collaborative neighbours' items."""
    neigh = "\n".join(f"Neighbour {k} ({d}): " + "; ".join(its) for k, (d, its) in enumerate(neighbours, 1))
    return _chat(f"User: {desc}.\nItems they chose, oldest first:\n{_items_block(items, notes)}\n"
                 f"Similar users:\n{neigh or NO_ITEMS}\n"
                 f"Write the user's profile in one line ({USER_SHAPE}), then one line per neighbour.")


def collab_target(profile: str, neighbour_profiles: list[str]) -> str:
    """(b) turn-1 answer: the user's profile first (inference keeps only this line)."""
    return "\n".join([profile] + [f"Neighbour {k}: {p}" for k, p in enumerate(neighbour_profiles, 1)])


def yes_no_question(item: str) -> str:
    """(b) turn 2: will the user choose this item?"""
    return f"Will this user choose {item}? Answer Yes or No."


YES, NO = "Yes", "No"


# ----------------------------------------------------------------- item side

def item_prompt(item: str, choosers: list[str], similar: list[tuple[str, str]]) -> list[dict]:
    """(d) and inference_base_item: the item, users who chose it (training only), and similar
    items with the 'suited for' part of their profiles."""
    chosen = "; ".join(choosers) if choosers else NO_ITEMS
    sim = "\n".join(f"- {t}: suited for {p}" for t, p in similar) or NO_ITEMS
    return _chat(f"Item: {item}.\nChosen by: {chosen}.\nSimilar items:\n{sim}\n"
                 f"Write the item's profile in one line: {ITEM_SHAPE}")


# ----------------------------------------------------------------- teacher

def teacher_user(desc: str, top: list[str], items: list[str], scaffolded: bool = False) -> list[dict]:
    """Teacher prompt. A hosted LLM writes the whole line; a scaffolded local model only
    continues the interests (an instruction quoting the shape gets copied by small models)."""
    head = (f"User: {desc}. Most frequent genres/categories: {', '.join(top) or 'unknown'}.\n"
            f"Items they chose, oldest first:\n{_items_block(items)}\n")
    if scaffolded:
        return _chat(head + "In one sentence, what does this user enjoy?")
    return _chat(head + f"Write the user's profile as ONE line in exactly this form:\n{USER_SHAPE}\n"
                 f"Identity: who they are (age, gender, occupation if known). Interests: the kinds of "
                 f"stories, moods and themes they enjoy, in one sentence. No names, no lists.")


def teacher_item(item: str, audience: str, choosers: list[str], scaffolded: bool = False) -> list[dict]:
    head = f"Item: {item}.\nAudience: {audience}.\nChosen by: {'; '.join(choosers) or NO_ITEMS}.\n"
    if scaffolded:
        return _chat(head + "In one sentence, who would enjoy this and why?")
    return _chat(head + f"Write the item's profile as ONE line in exactly this form:\n{ITEM_SHAPE}\n"
                 f"Summary: what it is, in one sentence. Suited for: who would enjoy it, in one sentence.")


def teacher_user_scaffold(identity: str) -> str:
    """For a small local teacher: the factual identity is written out, the model writes the interests."""
    return f"User identity: {identity}; User interests: Enjoys"


def teacher_item_scaffold(summary: str) -> str:
    return f"Item summary: {summary}; Suited for: people who"


# ----------------------------------------------------------------- shape checks

_CHAT_MARKUP = re.compile(r"<\|im_(start|end)\|>|<\|endoftext\|>|\[INST\]|</s>")


def fields_of(kind: str) -> tuple[str, str]:
    return USER_FIELDS if kind == "user" else ITEM_FIELDS


def prefill_of(kind: str) -> str:
    return USER_PREFILL if kind == "user" else ITEM_PREFILL


def split_profile(text: str, kind: str) -> tuple[str, str] | None:
    """(first field, second field) when ``text`` has the kind's shape, else None."""
    a, b = fields_of(kind)
    m = re.match(rf"^\s*{a}:\s*(.+?);\s*{b}:\s*(.+?)\s*$", text, flags=re.S)
    return (m.group(1).strip(), m.group(2).strip()) if m else None


def repetitive(text: str, min_words: int = 12, min_distinct: float = 0.4) -> bool:
    words = re.findall(r"\w+", text.lower())
    return len(words) >= min_words and len(set(words)) / len(words) < min_distinct


def check_profile(text: str, kind: str, min_words: int = 4) -> str | None:
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
    if repetitive(text):
        return "repetitive"
    return None


def format_score(text: str, kind: str) -> float:
    """In [0, 1]: shape 0.5, non-repetitive 0.25, 8-60 words 0.25 (GRPO's format term)."""
    if not text or not text.strip():
        return 0.0
    score = 0.5 if split_profile(text, kind) is not None else 0.0
    n = len(re.findall(r"\w+", text))
    score += 0.25 * (not repetitive(text)) + 0.25 * (8 <= n <= 60)
    return score


def first_line(text: str) -> str:
    """The profile line of a multi-line answer ((b)'s turn 1 lists neighbours after it)."""
    return text.strip().split("\n", 1)[0].strip()
