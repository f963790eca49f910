"""How far GRPO's reward can move: the held-out ranking term of every profile GRPO could write.

    python bench/bench_grpo_headroom.py                 # after the GRPO stage (reads its held-out users)
    python bench/bench_grpo_headroom.py --ship true     # also append its rows to results/<data>_grpo_headroom.jsonl
    PTE_OUTPUTS=outputs/llm_seed1 python bench/bench_grpo_headroom.py --tag main_llm1   # another Profile-stage run

GRPO (llm/lora/rlhf/rl_training.py, ACTION "picks") samples which three of a user's listed titles
the profile names; its held-out term is the NDCG of the user's hidden last training items among
sampled negatives, ranked by cosine to the profile's embedding. This scores, on the same held-out
users, every choice a policy has: each fixed set of listed positions (what one rule for all users
gets), the best set per user (an oracle: what a policy that knew each user's hidden items would
get), per-user rules that read only what the prompt shows (the three listed titles closest, in the
reward's encoder, to the user's own listed titles or to the record's genres: what a policy could
learn from the prompt alone), and, with the first three picks, other wordings of the one sentence
the model writes. Each row is compared with the first, paired over users with a 95% bootstrap
interval (pte.profile_bench.paired_change). The sentence is a template ("Enjoys the genre of
<the record's genres> movies") standing in for the model's greedy words; the first row shows how
close it comes to the stage's own measurement.
Only training interactions are read (the GRPO stage's held-out items are training items).
"""
import itertools
import json
import re

import numpy as np

from pte.config import apply_overrides
from pte.data import load_dataset
from pte.embeddings import load_embeddings
from pte.encoder import encode
from pte.io import append_jsonl, read_jsonl
from pte.llm import prompts as P
from pte.llm.rewards import RecReward
from pte.paths import RESULTS, dataset_dir
from pte.pipeline import LLM_SETTING, adapter_dir, train_data_path
from pte.profile_bench import paired_change

DATA = "ml-100k"
STAGE = "grpo"              # the GRPO run whose held-out users are scored (rl_training.py --out)
N_PICKS = 3                 # titles a profile names (the prompt asks for 3)
ENCODER = "minilm"          # the reward's text encoder (rl_training.py --encoder)
TAG = "main"                # label of the shipped rows
SHIP = False                # append the rows to results/<data>_grpo_headroom.jsonl
config = apply_overrides(globals())

# ---- data: the stage's held-out users, and the reward it trained with
examples_path = train_data_path(DATA, LLM_SETTING, f"{STAGE}_eval")
if not examples_path.exists():
    raise SystemExit(f"error: {examples_path} is missing: run the GRPO stage first "
                     f"(python llm/lora/rlhf/rl_training.py --data {DATA})")
examples = read_jsonl(examples_path)
ds = load_dataset(DATA)
reward = RecReward(load_embeddings(dataset_dir(DATA) / "item_text.npy", ds, "item"), ENCODER)
curve_path = adapter_dir(DATA, LLM_SETTING, STAGE) / "reward_curve.json"
measured = json.loads(curve_path.read_text())["held_out_before"]["rec_ndcg"] if curve_path.exists() else None


def genres(e: dict) -> str:
    m = re.search(r"chooses (.*) movies", e["prefill"])
    return m.group(1) if m else ""


def own_titles(e: dict) -> list[str]:
    """The user's listed training items (oldest first), as the prompt shows them."""
    return re.findall(r"^- (.*) — .*$", e["messages"][-1]["content"], re.M)


SENTENCES = {
    "genre sentence (template)": lambda e: f" Enjoys the genre of {genres(e)} movies",
    "no sentence": lambda e: "",
    "last 3 own titles": lambda e: " Enjoys movies like " + ", ".join(own_titles(e)[-3:]),
    "every own title listed": lambda e: " Enjoys movies like " + ", ".join(own_titles(e)),
}


def profile(e: dict, sentence: str, picks: tuple[int, ...]) -> str:
    return f"{e['prefill']}{sentence}; {P.USER_FIELDS[-1]}: " + "; ".join(e["options"][k] for k in picks)


def scores(texts: list[str], rows: list[dict]) -> np.ndarray:
    return np.asarray(reward.score(texts, [e["heldout"] for e in rows], [e["candidates"] for e in rows]))


# ---- every set of listed positions, with the template sentence
n_options = min(len(e["options"]) for e in examples)
if n_options < N_PICKS:
    raise SystemExit(f"error: {examples_path}: a user has {n_options} listed titles, fewer than --n_picks {N_PICKS}")
sets = list(itertools.combinations(range(n_options), N_PICKS))
template = SENTENCES["genre sentence (template)"]
grid = scores([profile(e, template(e), s) for e in examples for s in sets],
              [e for e in examples for _ in sets]).reshape(len(examples), len(sets))
first = sets.index(tuple(range(N_PICKS)))
best_fixed = int(grid.mean(0).argmax())


def closest_picks(reference: list[str]) -> list[int]:
    """Per user, the index in ``sets`` of the N_PICKS listed titles closest to the mean of the
    user's ``reference`` texts (cosine in the reward's encoder): a rule that reads only the prompt."""
    chosen = []
    for e, ref in zip(examples, reference):
        options = encode(e["options"][:n_options], ENCODER)
        target = encode(ref, ENCODER).mean(0)
        top = np.argsort(-(options @ target), kind="stable")[:N_PICKS]
        chosen.append(sets.index(tuple(sorted(int(k) for k in top))))
    return chosen


users = np.arange(len(examples))
rows = [("picks 1-3, genre sentence (the greedy policy's choice)", grid[:, first]),
        (f"best fixed picks for all users: {', '.join(str(k + 1) for k in sets[best_fixed])}", grid[:, best_fixed]),
        (f"mean over the {len(sets)} fixed pick sets (random picks)", grid.mean(1)),
        ("per user: the 3 listed closest to the user's own titles", grid[users, closest_picks([own_titles(e) for e in examples])]),
        ("per user: the 3 listed closest to the record's genres", grid[users, closest_picks([[genres(e)] for e in examples])]),
        ("best picks per user (oracle)", grid.max(1))]
for name, sentence in SENTENCES.items():
    if sentence is not template:
        rows.append((f"picks 1-3, {name}", scores([profile(e, sentence(e), sets[first]) for e in examples], examples)))

# ---- report
base = rows[0][1]
print(f"GRPO held-out users: {len(examples)} ({examples_path}); {len(examples[0]['heldout'])} hidden items among "
      f"{len(examples[0]['candidates'])} candidates; {n_options} listed titles, {N_PICKS} picked")
if measured is not None:
    print(f"the stage's own held-out NDCG before training (the model's greedy words): {measured:.4f}")
print(f"{'profile':62s} {'NDCG':>7s} {'vs first':>9s}  95% CI (paired over users)")
changes = [paired_change(base, v) for _, v in rows]
for (name, v), ch in zip(rows, changes):
    ci = "" if v is base else f"{100 * ch['ci'][0]:+.1f}% to {100 * ch['ci'][1]:+.1f}%"
    print(f"{name:62s} {v.mean():7.4f} {100 * ch['rel']:+8.1f}%  {ci}")
if SHIP:
    out = RESULTS / f"{DATA}_grpo_headroom.jsonl"
    for (name, v), ch in zip(rows, changes):
        append_jsonl(out, {"data": DATA, "tag": TAG, "profile": name, "ndcg": round(float(v.mean()), 4),
                           "vs_first": round(ch["rel"], 4), "ci": [round(c, 4) for c in ch["ci"]],
                           "n_users": len(examples), "measured_before": measured, "config": config})
    print(f"appended {len(rows)} rows to {out}")
