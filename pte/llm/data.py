"""Training examples and inference prompts of the Profile stage, from training interactions only.

The leakage rule lives here: every item a prompt shows is attributed to a user who has
it in the setting's *training* interactions (``split.train_sequence``), and each
example records those (user, item) pairs as ``provenance`` so tests can prove it. In
longtail, training = all but a user's last two items; in coldstart, only training users
have any, so validation/test users never appear (not as subjects, co-choosers or choosers).
Held-out items for (b) and GRPO are taken from the user's training sequence, never from
validation/test targets.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from typing import Iterable

import numpy as np

from pte.data import Dataset
from pte.llm import prompts as P
from pte.splits import Split, load_split, settings_of

MAX_ITEMS = 8           # most recent training items shown per user
N_CANDIDATES = 6        # titles a user prompt shows as most often chosen with their latest items
N_CHOOSERS = 4          # users described in an item prompt
N_CO_CHOSEN = 5         # titles shown as most often chosen with an item
RECENT_ITEMS = 2        # latest training items a user's candidates follow (they beat whole-history similar
                        # users on ml-100k and ml-1m validation, and 2 beat 5 on ml-100k: bench/bench_profiles.py)
N_NO_POOL = 50          # (b): a "No" item is drawn from this many titles co-chosen with the anchors
NOTE_WORDS = 12         # words kept of a profile field used as a note in another prompt
ID_LIKE = ("zip_code", "zip", "id", "raw")  # attributes that are identifiers, not descriptions


# The Profile stage trains on one setting's training interactions; "both" = the ones that
# are training interactions in *both* settings (coldstart training users' sequences minus
# their last two items), so one set of adapters and item profiles serves both settings.
LLM_SETTINGS = ("longtail", "coldstart", "both")
NO_DESC = "a user"   # user_desc of a user without attributes (e.g. Amazon reviewers)


# ----------------------------------------------------------------- descriptions

def domain_noun(ds: Dataset) -> str:
    if ds.meta.get("domain"):
        return str(ds.meta["domain"])
    return "movie" if ds.name.lower().startswith("ml-") else "item"


def user_desc(ds: Dataset, u: int) -> str:
    """'24-year-old male technician' (ml-100k), '25-34-year-old male programmer' (ml-1m age groups) for
    MovieLens-like attributes; 'key value' pairs otherwise."""
    a = {k: v for k, v in ds.users[u].items() if v not in (None, "") and k not in ID_LIKE}
    if {"age", "gender"} <= a.keys():
        g = {"M": "male", "F": "female"}.get(str(a["gender"]).upper(), str(a["gender"]))
        occ = f" {a['occupation']}" if a.get("occupation") and a["occupation"] != "none" else ""
        age = str(a["age"])
        if re.fullmatch(r"\d+(-\d+)?", age):     # ml-100k: an age; ml-1m: an age group such as 25-34
            return f"{age}-year-old {g}{occ}"
        return f"{g}{occ} aged {age}"              # ml-1m's "under 18", "56 or older"
    if a:
        return ", ".join(f"{k} {v}" for k, v in a.items())
    return NO_DESC


def item_categories(ds: Dataset, i: int) -> list[str]:
    it = ds.items[i]
    raw = it.get("genres") or it.get("categories") or ""
    if isinstance(raw, list):
        return [str(x).strip() for x in raw if str(x).strip()]
    return [g.strip() for g in re.split(r"[,|]", str(raw)) if g.strip()]


def top_categories(ds: Dataset, items: Iterable[int], n: int = 3) -> list[str]:
    c = Counter(g for i in items for g in item_categories(ds, int(i)))
    return [g for g, _ in c.most_common(n)]


def note(profile: str | None, kind: str, words: int = NOTE_WORDS) -> str | None:
    """The second field of a profile (interests / suited for), cut to a few words."""
    if not profile:
        return None
    parts = P.split_profile(profile, kind)
    text = parts[1] if parts else profile
    w = text.split()
    return " ".join(w[:words]).rstrip(".,;") + ("..." if len(w) > words else "")


# ----------------------------------------------------------------- the training view

def shared_split(ds: Dataset) -> Split:
    """Training interactions of both settings at once: for each coldstart training user, the
    longtail training sequence (all but the last two items); nobody else. Valid/test: longtail's."""
    from dataclasses import replace
    long = load_split(ds, "longtail")
    if "coldstart" not in settings_of(ds):   # e.g. no timestamps: longtail's training items are all there is
        return replace(long, setting="both", train_samples=None,
                       info={**long.info, "shared": "longtail training items (the dataset has no coldstart split)"})
    cold = load_split(ds, "coldstart")
    keep = np.diff(cold.train_ptr) > 0
    lengths = np.where(keep, np.diff(long.train_ptr), 0)
    for u in np.flatnonzero(keep):  # longtail's training sequence is a prefix of the full one
        n = lengths[u]
        if not np.array_equal(long.train_sequence(u), cold.train_sequence(u)[:n]):
            raise RuntimeError(f"user {ds.user_raw[u]}: the two settings order this user's items differently; "
                               f"rebuild the splits with data/prepare.py --data {ds.name} --force true")
    ptr = np.concatenate([[0], np.cumsum(lengths)]).astype(long.train_ptr.dtype)
    items = np.concatenate([long.train_sequence(u) for u in np.flatnonzero(keep)]).astype(long.train_items.dtype)
    return replace(long, setting="both", train_ptr=ptr, train_items=items, train_samples=None,
                   info={**long.info, "shared": "coldstart training users x longtail training items"})


def train_view(ds: Dataset, setting: str) -> "TrainView":
    """The Profile stage's view of ``setting``'s training interactions (see LLM_SETTINGS)."""
    if setting not in LLM_SETTINGS:
        raise SystemExit(f"error: --setting must be one of {LLM_SETTINGS}, got {setting!r}")
    return TrainView(ds, shared_split(ds) if setting == "both" else load_split(ds, setting))


class TrainView:
    """Training interactions of one setting: item neighbours by cosine co-occurrence, and the items
    most often chosen together with given ones."""

    def __init__(self, ds: Dataset, split: Split):
        import scipy.sparse as sp
        self.ds, self.split = ds, split
        users, items = split.train_pairs
        m = sp.csr_matrix((np.ones(len(items), np.float32), (users, items)), shape=(ds.n_users, ds.n_items))
        m.sum_duplicates()
        m.data[:] = 1.0  # a repeated interaction counts once
        self.ui = m
        self.iu = m.T.tocsr()

    @cached_property
    def train_users(self) -> np.ndarray:
        """Users with at least one training interaction (coldstart: the training users)."""
        return np.flatnonzero(np.diff(self.split.train_ptr) > 0)

    @cached_property
    def train_items(self) -> np.ndarray:
        return np.flatnonzero(np.diff(self.iu.indptr) > 0)

    def sequence(self, u: int) -> np.ndarray:
        return self.split.train_sequence(u)

    def choosers(self, i: int) -> np.ndarray:
        """Users who chose item i in training interactions."""
        return self.iu.indices[self.iu.indptr[i]:self.iu.indptr[i + 1]]

    def item_neighbours(self, items: np.ndarray, k: int, chunk: int = 256) -> dict[int, list[int]]:
        """Top-k cosine neighbours (similarity > 0) of each item over training co-occurrence."""
        m = self.iu
        norm = 1.0 / np.sqrt(np.maximum(np.asarray(m.sum(1)).ravel(), 1.0))
        out = {}
        items = np.asarray(items, dtype=np.int64)
        for s in range(0, len(items), chunk):
            r = items[s:s + chunk]
            sims = (m[r] @ m.T).toarray() * norm[r, None] * norm[None, :]
            sims[np.arange(len(r)), r] = 0.0
            for q, row in zip(r, sims):
                cand = np.flatnonzero(row > 0)
                best = cand[np.lexsort((cand, -row[cand]))][:k]  # ties: lower id first
                out[int(q)] = [int(x) for x in best]
        return out

    def co_chosen_with(self, anchors: Iterable[int], seen: Iterable[int], n: int,
                       user: int | None = None) -> list[tuple[int, int, int]]:
        """The ``n`` items most often chosen together with ``anchors``, never one of ``seen``:
        (item, users who chose it and an anchor summed over the anchors, one such user), ranked by
        that sum over the square root of the item's number of choosers (so popular items do not top
        every list), ties lower id first. ``user``'s own interactions are not counted: a record that
        hides some of them must not rank the hidden items by them."""
        anchors = list(dict.fromkeys(int(a) for a in anchors))
        if not anchors:
            return []
        w = np.asarray(self.iu[anchors].sum(0)).ravel()   # per user: how many anchors they chose
        if user is not None:
            w[int(user)] = 0.0
        co = self.iu @ w                                    # per item: co-choosers summed over anchors
        score = co / np.sqrt(np.maximum(np.diff(self.iu.indptr), 1))
        score[np.asarray(list({int(i) for i in seen}), dtype=np.int64)] = 0.0
        cand = np.flatnonzero(score > 0)
        best = cand[np.lexsort((cand, -score[cand]))][:n]
        return [(int(i), int(round(co[i])), self._witness(int(i), w)) for i in best]

    def _witness(self, i: int, w: np.ndarray) -> int:
        """The lowest-id user who chose item i and some anchor (w > 0) in training."""
        ch = self.choosers(i)
        return int(ch[w[ch] > 0].min())


# ----------------------------------------------------------------- facts

def _article(phrase: str) -> str:
    """'an' before a vowel sound ('an 18-year-old', 'an Animation'), else 'a'."""
    w = phrase.split("-")[0].split()[0].lower() if phrase.strip() else ""
    vowel = w[:1] in tuple("aeiou") or w in ("8", "11", "18") or (w.isdigit() and w.startswith("8"))
    return "an" if vowel else "a"


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def identity(ds: Dataset, u: int, genres: list[str]) -> str:
    """A user profile's first field: 'A 24-year-old male technician who mostly chooses Drama and Comedy movies'."""
    desc = user_desc(ds, u)
    head = "A user" if desc == NO_DESC else f"{_article(desc).capitalize()} {desc}"
    return head + (f" who mostly chooses {_join(genres)} {domain_noun(ds)}s" if genres else "")


def summary(ds: Dataset, i: int) -> str:
    """An item profile's first field: 'Aladdin (1992), an Animation/Children's/Comedy movie'."""
    cats = item_categories(ds, i)
    kinds = "/".join(cats[:3])
    return f"{short_title(ds, i)}, {_article(kinds)} {kinds} {domain_noun(ds)}" if cats else short_title(ds, i)


def median_age(attrs: list[dict]) -> str:
    """The median age ('29'), or the median age group where ages are groups ('25-34'); '' when unknown."""
    ages = [str(a["age"]) for a in attrs if a.get("age") not in (None, "")]
    if not ages:
        return ""
    if all(x.isdigit() for x in ages):
        return str(int(np.median([int(x) for x in ages])))
    lower = sorted(ages, key=lambda x: int(re.search(r"\d+", x).group()) if x[:1].isdigit() else 0)
    return lower[(len(lower) - 1) // 2]


def audience(view: "TrainView", i: int) -> str:
    """Who chose item i in training: how many, and their dominant gender/age/occupation when known."""
    users = view.choosers(i)
    if len(users) == 0:
        return "not chosen by any user yet"
    attrs = [view.ds.users[int(u)] for u in users]
    parts = []
    genders = Counter(a.get("gender") for a in attrs if a.get("gender"))
    if genders:
        g, c = genders.most_common(1)[0]
        parts.append(f"{round(100 * c / len(attrs))}% {'male' if g == 'M' else 'female' if g == 'F' else g}")
    age = median_age(attrs)
    if age:
        parts.append(f"median age {age}")
    occ = Counter(a.get("occupation") for a in attrs if a.get("occupation") not in (None, "", "other", "none"))
    if occ:
        parts.append(f"top occupation {occ.most_common(1)[0][0]}")
    n = len(users)
    return f"chosen by {n} user{'s' if n != 1 else ''}" + (" (" + ", ".join(parts) + ")" if parts else "")


def audience_words(view: "TrainView", i: int) -> str:
    """Who an item suits, from who chose it in training: 'mostly men around 29, often students'."""
    users = view.choosers(i)
    if len(users) == 0:
        return "anyone (nobody has chosen it yet)"
    attrs = [view.ds.users[int(u)] for u in users]
    g = Counter(str(a.get("gender") or "").upper() for a in attrs)
    known = g.get("M", 0) + g.get("F", 0)
    men = g.get("M", 0) / known if known else None
    if men is None:   # no genders in the data (e.g. Amazon): say only what is known
        who = f"people like its {len(users)} chooser{'s' if len(users) != 1 else ''}"
    else:
        who = "mostly men" if men >= 0.65 else "mostly women" if men <= 0.35 else "men and women"
    age = median_age(attrs)
    occ = Counter(a.get("occupation") for a in attrs if a.get("occupation") not in (None, "", "other", "none"))
    return (who + (f" around {age}" if age else "")
            + (f", often {occ.most_common(1)[0][0]}s" if occ else ""))


# ----------------------------------------------------------------- records: what a prompt shows

@dataclass
class Record:
    """What the Profile stage knows about one user or item, and the profile fields it supports."""
    text: str                           # the prompt's body
    head: str                           # the profile's first field (facts)
    options: list[str]                  # the numbered candidate titles the record shows, best first
    provenance: list[tuple[int, int]]   # every (user, item) training interaction the text shows

    @property
    def picks(self) -> list[str]:
        """The teacher's collaborative field: the evidence's top titles."""
        return self.options[:P.N_PICKS]

    @property
    def pick_numbers(self) -> list[int]:
        return list(range(1, len(self.picks) + 1))


def recent_anchors(seq: list[int]) -> list[int]:
    """The items a user record's candidates follow: the last RECENT_ITEMS of the sequence it shows."""
    return seq[-RECENT_ITEMS:]


def user_record(view: TrainView, u: int, exclude: Iterable[int] = (), max_items: int = MAX_ITEMS,
                n_candidates: int = N_CANDIDATES, item_bank: dict[int, str] | None = None) -> Record:
    """The user's attributes, most chosen genres and last training items (minus ``exclude``), and
    the items most often chosen together with the last RECENT_ITEMS of them, strongest first."""
    ds = view.ds
    seq = own_items(view, u, 0, exclude)
    own = seq[-max_items:] if max_items > 0 else seq
    genres = top_categories(ds, seq, 3)
    cand = view.co_chosen_with(recent_anchors(seq), seq, n_candidates, user=u)
    lines = [ds.item_text(i) + (f" [suited for: {n}]" if item_bank and (n := note(item_bank.get(i), "item")) else "")
             for i in own]
    titles = [short_title(ds, i) for i, _, _ in cand]
    text = P.user_record(user_desc(ds, u), genres, lines, titles, RECENT_ITEMS)
    return Record(text, identity(ds, u, genres), titles, [(u, i) for i in own] + [(v, i) for i, _, v in cand])


def item_record(view: TrainView, i: int, co_chosen: list[int], n_choosers: int = N_CHOOSERS,
                user_bank: dict[int, str] | None = None, seed: int = 0) -> Record:
    """The item's text, who chose it in training (a seeded sample described), and the items most
    often chosen with it (cosine over training co-occurrence, strongest first)."""
    ds = view.ds
    ch = view.choosers(i)
    if len(ch) > n_choosers:
        ch = np.sort(np.random.default_rng([seed, i]).choice(ch, n_choosers, replace=False))
    descs = []
    for v in ch:
        n = note(user_bank.get(int(v)), "user") if user_bank else None
        d = user_desc(ds, int(v))
        if d != NO_DESC or n:   # a chooser with no attributes and no note tells the model nothing
            descs.append(d + (f" ({n})" if n else ""))
    co = [int(j) for j in co_chosen[:N_CO_CHOSEN]]
    both = set(view.choosers(i).tolist())
    witness = {j: next(int(v) for v in view.choosers(j) if int(v) in both) for j in co}  # chose i and j
    text = P.item_record(ds.item_text(i), audience(view, i), descs, [short_title(ds, j) for j in co])
    return Record(text, summary(ds, i), [short_title(ds, j) for j in co],
                  [(int(v), int(i)) for v in ch] + [(witness[j], j) for j in co])


def facts_line(kind: str, head: str, picks: str) -> str:
    """A profile line without its second field (the model's sentence): facts and collaborative titles."""
    a, _, c = P.fields_of(kind)
    return f"{a}: {head}; {c}: {picks}"


def grounded(kind: str, rec: Record) -> str:
    """The profile's facts and collaborative field with no words of a model: the ladder's no-LLM rung."""
    return facts_line(kind, rec.head, "; ".join(rec.picks) if rec.picks else P.NO_ITEMS)


# ----------------------------------------------------------------- examples

@dataclass
class Example:
    """A prompt (and, for training, its answers) with the (user, item) pairs it shows."""
    id: str
    kind: str
    subject: int
    messages: list[dict]
    provenance: list[tuple[int, int]]
    prefill: str = ""
    extra: dict | None = None

    def to_row(self) -> dict:
        return {"id": self.id, "kind": self.kind, "subject": int(self.subject), "messages": self.messages,
                "prefill": self.prefill, "provenance": [[int(u), int(i)] for u, i in self.provenance],
                **{k: (int(v) if isinstance(v, np.integer) else v) for k, v in (self.extra or {}).items()}}


def short_title(ds: Dataset, i: int) -> str:
    """Title (year) without categories: evidence lists and collaborative fields."""
    it = ds.items[int(i)]
    title = it.get("title") or f"item {ds.item_raw[int(i)]}"
    return f"{title} ({it['year']})" if it.get("year") else title


def own_items(view: TrainView, u: int, max_items: int, exclude: Iterable[int] = ()) -> list[int]:
    ex = set(int(x) for x in exclude)
    seq = [int(i) for i in view.sequence(u) if int(i) not in ex]
    return seq[-max_items:] if max_items > 0 else seq


def teacher_words(profile: str, kind: str) -> str:
    """The model-written field of a teacher profile (reused when (b) rebuilds a target)."""
    parts = P.split_profile(profile, kind)
    if parts is None:
        raise ValueError(f"not a {kind} profile: {profile!r}")
    return parts[1]


def kd_example(view: TrainView, u: int, target: str, max_items: int = MAX_ITEMS) -> Example:
    """(a): the user's record -> the teacher's profile (its picks as the record's numbers)."""
    rec = user_record(view, u, max_items=max_items)
    line = P.answer("user", rec.head, teacher_words(target, "user"), numbers(P.picks_of(target, "user"), rec))
    return Example(f"kd-{u}", "kd", u, P.user_prompt(rec.text) + [{"role": "assistant", "content": line}],
                   rec.provenance, extra={"options": rec.options})


def numbers(titles: list[str], rec: Record) -> list[int]:
    """The record's numbers of the given titles (those it shows)."""
    return [rec.options.index(t) + 1 for t in titles if t in rec.options]


def mask_example(view: TrainView, u: int, user_bank: dict[int, str], max_items: int = MAX_ITEMS, seed: int = 0,
                 item_bank: dict[int, str] | None = None) -> Example | None:
    """(b): one training interaction held out of the record; turn 1 = the profile that record
    supports (the teacher's words), turn 2 = will the user choose <item>? Yes (the held-out
    item) or No (an item often chosen with the record's anchors that this user never chose), 50/50."""
    seq = [int(i) for i in view.sequence(u)]
    if len(seq) < 2 or u not in user_bank:
        return None
    rng = np.random.default_rng([seed, u])
    held = seq[int(rng.integers(len(seq)))]
    rec = user_record(view, u, exclude=[held], max_items=max_items, item_bank=item_bank)
    target = P.answer("user", rec.head, teacher_words(user_bank[u], "user"), rec.pick_numbers)
    if rng.random() < 0.5:
        item, answer = held, P.YES
    else:
        item, answer = int(rng.choice(no_pool(view, u, [held]))), P.NO
    msgs = P.user_prompt(rec.text) + [{"role": "assistant", "content": target},
                                      {"role": "user", "content": P.yes_no_question(view.ds.item_text(item))},
                                      {"role": "assistant", "content": answer}]
    return Example(f"mask-{u}", "mask", u, msgs, rec.provenance,
                   extra={"heldout": [held], "question_item": item, "answer": answer, "options": rec.options})


def no_pool(view: TrainView, u: int, held: Iterable[int]) -> list[int]:
    """(b)'s "No" items: those most often chosen with the anchors of the record that hides ``held``
    and that the user never chose (plausible ones, so the answer takes more than the candidates
    list), else any training item they never chose."""
    seq = own_items(view, u, 0)
    anchors = recent_anchors(own_items(view, u, 0, held))
    pool = [i for i, _, _ in view.co_chosen_with(anchors, seq, N_NO_POOL, user=u)]
    return pool or sorted(set(view.train_items.tolist()) - set(seq))


def item_example(view: TrainView, i: int, target: str, co_chosen: list[int], n_choosers: int = N_CHOOSERS,
                 user_bank: dict[int, str] | None = None, seed: int = 0) -> Example:
    """(d): the item's record -> its teacher profile (its picks as the record's numbers)."""
    rec = item_record(view, i, co_chosen, n_choosers, user_bank, seed)
    line = P.answer("item", rec.head, teacher_words(target, "item"), numbers(P.picks_of(target, "item"), rec))
    return Example(f"item-{i}", "item", i, P.item_prompt(rec.text) + [{"role": "assistant", "content": line}],
                   rec.provenance, extra={"options": rec.options})


def training_negatives(view: TrainView, u: int, n: int, seed: int = 0) -> list[int]:
    """``n`` distinct items the user has no *training* interaction with (seeded per user); validation
    and test targets are never consulted, not even to exclude them."""
    seen = set(int(i) for i in view.sequence(u))
    if view.ds.n_items - len(seen) < n:
        raise ValueError(f"user {u}: fewer than {n} items left to sample as negatives")
    rng = np.random.default_rng([seed, u])
    negs: list[int] = []
    while len(negs) < n:
        for c in rng.integers(0, view.ds.n_items, size=2 * n).tolist():
            if len(negs) < n and c not in seen and c not in negs:  # a draw may repeat within the batch too
                negs.append(c)
    return negs


def grpo_example(view: TrainView, u: int, k_holdout: int, n_negatives: int,
                 max_items: int = MAX_ITEMS, seed: int = 0, item_bank: dict[int, str] | None = None) -> Example | None:
    """(c): the last ``k_holdout`` training items are hidden; the reward ranks them among negatives.

    Negatives are items the user has no *training* interaction with (validation/test
    targets are never consulted, not even to exclude them). The record's anchors are the items
    just before the hidden ones, so its candidates may hold them (chosen with the anchors by
    others, never counted by this user): the collaborative evidence a good profile should pick up.
    """
    seq = [int(i) for i in view.sequence(u)]
    if len(seq) <= k_holdout:
        return None
    held = sorted(set(seq[-k_holdout:]))
    if not [i for i in seq[:-k_holdout] if i not in held]:
        return None
    negs = training_negatives(view, u, n_negatives, seed)
    rec = user_record(view, u, exclude=held, max_items=max_items, item_bank=item_bank)
    return Example(f"grpo-{u}", "grpo", u, P.user_prompt(rec.text), rec.provenance,
                   prefill=P.head_prefill("user", rec.head),
                   extra={"heldout": held, "candidates": held + negs, "options": rec.options})


# ----------------------------------------------------------------- rendering and tokenising

def render(tokenizer, messages: list[dict], prefill: str = "") -> str:
    """The generation prompt text: chat template + assistant header + the profile's opening words."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) + prefill


def tokenize_chat(tokenizer, messages: list[dict], max_length: int | None = None) -> dict:
    """input_ids and labels for a chat, with loss on assistant turns only (all of them).

    Assistant spans are found by rendering message prefixes, which works for any chat
    template whose rendering of a prefix is a prefix of the whole (ChatML, Llama-2, ...).
    """
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    spans = []
    for k, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        start = tokenizer.apply_chat_template(messages[:k], tokenize=False, add_generation_prompt=True)
        end = tokenizer.apply_chat_template(messages[:k + 1], tokenize=False)
        if not full.startswith(end) or not end.startswith(start):
            raise ValueError("the chat template does not render prefixes as prefixes; cannot mask prompts")
        spans.append((len(start), len(end)))
    enc = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    ids = enc["input_ids"]
    labels = [t if any(a <= s < b for a, b in spans) else -100 for t, (s, _) in zip(ids, enc["offset_mapping"])]
    if max_length:
        ids, labels = ids[:max_length], labels[:max_length]
    return {"input_ids": ids, "labels": labels}


def load_bank(path, kind: str | None = None) -> dict[int, str]:
    """id -> profile text of the valid rows of a profile/teacher JSONL file."""
    from pte.io import read_jsonl
    rows = read_jsonl(path)
    return {int(r["id"]): r["text"] for r in rows if r.get("valid", True) and r.get("text")}


def sample_ids(ids: np.ndarray, n: int, seed: int) -> np.ndarray:
    """A seeded subset of ``n`` ids (all when n <= 0 or n >= len), sorted."""
    ids = np.asarray(ids)
    if n <= 0 or n >= len(ids):
        return np.sort(ids)
    return np.sort(np.random.default_rng(seed).choice(ids, n, replace=False))
