"""GRPO rewards: plain functions of (prompts, completions, dataset columns).

Default, recommendation-grounded: embed the sampled profile with the text encoder and
score how highly it ranks the user's held-out training items among candidates (the
held-out items + sampled negatives) by cosine with the items' vectors: NDCG over the
candidate list. A small format term keeps the one-line shape. A completion continues its
prompt's prefill (the profile's facts) and picks titles by number from the record's options;
trl hands both over as the dataset columns "prefill" and "options".

Option ("learned", the release's variant): a reward model (sequence classifier on the
base LM) trained to prefer teacher profiles over corrupted ones (another user's
profile, shuffled fields, a truncated line), used through trl as a model reward.
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from pte.llm import prompts as P


def completion_text(completion, prefill: str = P.USER_PREFILL, options: list[str] | None = None) -> str:
    """The profile a completion stands for: prefill + text, its picked numbers as the options' titles
    (trl passes str or chat messages); "" when it generated nothing or names no listed title."""
    if isinstance(completion, list):  # conversational: [{"role": "assistant", "content": ...}]
        completion = completion[-1]["content"] if completion else ""
    if not completion or not completion.strip():
        return ""  # nothing generated: no profile, whatever the prefill says
    line = " ".join((prefill + completion).strip().split("\n", 1)[0].split())
    return line if options is None else P.resolve(line, "user", options) or ""


def ndcg_of(scores: np.ndarray, relevant: int) -> float:
    """NDCG of the first ``relevant`` candidates (the held-out items) among ``scores``; ties pessimistic."""
    import torch
    from pte.metrics import pessimistic_rank
    s = torch.as_tensor(scores, dtype=torch.float32)
    ranks = pessimistic_rank(s[None, :].expand(relevant, -1), s[:relevant]).numpy()
    dcg = float(np.sum(1.0 / np.log2(ranks + 1.0)))
    idcg = float(np.sum(1.0 / np.log2(np.arange(1, relevant + 1) + 1.0)))
    return dcg / idcg


class RecReward:
    """NDCG of the held-out items when the profile's embedding ranks the candidates."""

    def __init__(self, item_vectors: np.ndarray, encoder: str = "minilm", prefill: str = P.USER_PREFILL):
        v = np.asarray(item_vectors, np.float32)
        self.items = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        self.encoder, self.prefill = encoder, prefill
        self.__name__ = "rec_ndcg"  # trl logs rewards under the function's name

    def score(self, texts: list[str], heldout: list[list[int]], candidates: list[list[int]]) -> list[float]:
        """One reward per text; an empty text scores 0."""
        from pte.encoder import encode
        keep = [k for k, t in enumerate(texts) if t and t.strip()]
        out = [0.0] * len(texts)
        if not keep:
            return out
        vecs = encode([texts[k] for k in keep], self.encoder)
        for k, v in zip(keep, vecs):
            cand = np.asarray(candidates[k], dtype=np.int64)
            n_rel = len(heldout[k])
            if list(cand[:n_rel]) != list(heldout[k]):
                raise ValueError("candidates must start with the held-out items")
            out[k] = ndcg_of(self.items[cand] @ v, n_rel)
        return out

    def __call__(self, prompts=None, completions=None, heldout=None, candidates=None, prefill=None, options=None,
                 **kwargs) -> list[float]:
        n = len(completions)
        texts = [completion_text(c, p, o) for c, p, o in zip(completions, prefill or [self.prefill] * n,
                                                             options or [None] * n)]
        return self.score(texts, heldout, candidates)


def format_reward(prompts=None, completions=None, prefill=None, options=None, **kwargs) -> list[float]:
    """The shape term: the three fields (picks naming listed titles), not repetitive, 12-90 words."""
    n = len(completions)
    return [P.format_score(completion_text(c, p, o), "user")
            for c, p, o in zip(completions, prefill or [P.USER_PREFILL] * n, options or [None] * n)]


def mean_reward(reward: RecReward, texts: list[str], heldout: list[list[int]], candidates: list[list[int]],
                format_weight: float) -> dict:
    """The evaluation used before and after GRPO on fixed held-out users."""
    rec = reward.score(texts, heldout, candidates)
    fmt = [P.format_score(t, "user") for t in texts]
    total = [r + format_weight * f for r, f in zip(rec, fmt)]
    return {"reward": float(np.mean(total)), "rec_ndcg": float(np.mean(rec)), "format": float(np.mean(fmt)),
            "n": len(texts)}


def random_baseline(n_relevant: int, n_candidates: int, trials: int = 2000, seed: int = 0) -> float:
    """Expected NDCG of a random ranking (what an uninformative profile scores)."""
    rng = np.random.default_rng(seed)
    return float(np.mean([ndcg_of(rng.random(n_candidates), n_relevant) for _ in range(trials)]))


# ----------------------------------------------------------------- the learned reward model (option)

def corrupt(profile: str, others: list[str], rng: random.Random) -> str:
    """A worse profile: another user's, fields swapped between users, or cut short."""
    kind = rng.randrange(3)
    if kind == 0 and others:
        return rng.choice(others)
    parts = P.split_profile(profile, "user")
    if kind == 1 and parts and others:
        other = P.split_profile(rng.choice(others), "user")
        if other:
            return P.profile("user", parts[0], other[1], [t.strip() for t in other[2].split(";")])
    words = profile.split()
    return " ".join(words[: max(2, len(words) // 3)])


def train_reward_model(model_name: str, tokenizer, prompts: list[str], profiles: list[str], out_dir: str | Path,
                       *, steps: int, lr: float, batch_size: int, seed: int, max_length: int = 512):
    """Fit a scalar reward model (chosen = teacher profile, rejected = a corruption) with trl's RewardTrainer."""
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification
    from trl import RewardConfig, RewardTrainer

    from pte.llm.model import local_kwargs, lora_config, model_path, precision_kwargs
    rng = random.Random(seed)

    def joined(prompt: str, text: str) -> str:  # the prompt ends with the assistant's header
        return prompt + text

    rows = []
    for k, (p, prof) in enumerate(zip(prompts, profiles)):
        bad = corrupt(prof, profiles[:k] + profiles[k + 1:], rng)
        rows.append({"chosen": joined(p, prof), "rejected": joined(p, bad)})
    path = model_path(model_name)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1, **local_kwargs(path))
    model.config.pad_token_id = tokenizer.pad_token_id
    cfg = lora_config()
    cfg.task_type = "SEQ_CLS"
    args = RewardConfig(output_dir=str(Path(out_dir) / "checkpoints"), max_steps=steps, learning_rate=lr,
                        per_device_train_batch_size=batch_size, logging_steps=1, save_strategy="no",
                        report_to="none", seed=seed, max_length=max_length, **precision_kwargs(False))
    trainer = RewardTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                            processing_class=tokenizer, peft_config=cfg)
    trainer.train()
    merged = trainer.model.merge_and_unload() if hasattr(trainer.model, "merge_and_unload") else trainer.model
    merged.eval()
    acc = [h.get("accuracy") for h in trainer.state.log_history if h.get("accuracy") is not None]
    print(f"reward model: {len(rows)} pairs, {steps} steps"
          + (f", last training accuracy {acc[-1]:.2f}" if acc else ""))
    return merged

