"""(c) GRPO "personalized feature enhancement", user side, continuing (b)'s adapter.

    cd llm/lora/rlhf && python rl_training.py
    python llm/lora/rlhf/rl_training.py --steps 300 --num_generations 8 --batch_size 16   # GPU-sized
    python llm/lora/rlhf/rl_training.py --reward learned          # the release's learned reward model
    accelerate launch --config_file llm/configs/single_gpu.yaml llm/lora/rlhf/rl_training.py
    accelerate launch --config_file llm/configs/multi_gpu.yaml llm/lora/rlhf/rl_training.py
    accelerate launch --config_file llm/configs/zero2.yaml llm/lora/rlhf/rl_training.py

Reward (default "rec"): for a user whose last K training items are hidden from the
prompt, embed each sampled profile with the text encoder and rank the candidates (the
hidden items + sampled negatives the user has no training interaction with) by cosine
with the items' vectors: reward = NDCG of the hidden items + FORMAT_WEIGHT x the shape
term. "learned": a reward model trained on teacher vs corrupted profiles.
What is sampled (ACTION): "picks" (default) = which listed titles the profile names: each
training prompt is prefilled with the profile's facts and the initial policy's own greedy
words, so a completion is the picked numbers (a few tokens: cheap on a CPU, and exactly the
choice the reward judges); "profile" = the words and the picks, the whole continuation.
The mean reward of greedy profiles on fixed held-out users (not trained on) is measured
before and after training. Writes outputs/<data>/<setting>/adapters/grpo/ with
reward_curve.json, and img/grpo_reward_<data>_<setting>.png.
"""
import time

import numpy as np

from pte.config import apply_overrides
from pte.data import load_dataset
from pte.embeddings import load_embeddings
from pte.io import write_json
from pte.llm import prompts as P
from pte.llm.data import LLM_SETTINGS, grpo_example, load_bank, render, train_view, user_record
from pte.llm.generate import GenSettings, generate_batch, stop_token_ids
from pte.llm.model import (BUNDLED, load_tokenizer, model_path, pick_device, precision_kwargs, read_stage,
                           report_to, trainable_model, write_stage)
from pte.llm.profiles import require_adapter, teacher_bank
from pte.llm.rewards import (RecReward, completion_text, format_reward, mean_reward, random_baseline,
                             train_reward_model)
from pte.llm.train import (checkpoint_args, curve, dump_examples, ends, grpo_trainer, is_main_process, plot_curve,
                           setup, stage_info, train_resumably, training_signature)
from pte.paths import IMG, dataset_dir
from pte.pipeline import adapter_dir, embedding_path, profile_path, train_data_path

DATA = "ml-100k"
SETTING = "both"           # training interactions: both = those both settings train on (one set of
                            # adapters serves coldstart and longtail) | longtail | coldstart
MODEL = BUNDLED
INIT_ADAPTER = "sft_base_mask"  # continue (b); "none" = a fresh LoRA on the base model
LOAD_IN_4BIT = False
REWARD = "rec"              # rec (recommendation-grounded) | learned (reward model, the release's variant)
ITEM_VECTORS = "text"       # items' vectors for the rec reward: text (data/<name>/item_text.npy) | profile
ENCODER = "minilm"          # text encoder of profiles (must match the item vectors')
N_TRAIN_USERS = 12          # users whose prompts GRPO trains on (STEPS x one prompt per step: each seen once)
N_EVAL_USERS = 64           # disjoint held-out users for the before/after reward (greedy, decoded as inference)
K_HOLDOUT = 3               # last training items hidden from the prompt and scored by the reward
N_NEGATIVES = 20            # sampled negatives per user
MAX_ITEMS = 8               # recent training items in the prompt (as in training)
FORMAT_WEIGHT = 0.2         # weight of the shape term next to NDCG
STEPS = 12                  # optimizer steps (CPU-sized)
BATCH_SIZE = 4              # completions per device per micro-batch
NUM_GENERATIONS = 4         # GRPO group size: BATCH_SIZE x GRAD_ACCUM must divide by it
GRAD_ACCUM = 1              # one prompt x 4 samples per step
LR = 2e-4
BETA = 0.0                  # KL to the reference (the init adapter's policy); 0: no reference pass (a third
                            # less compute per step; the run with 0.04, 2 prompts per step moved no further)
TEMPERATURE = 1.2           # sampling: at 1.0 half the groups drew the same picks four times (no signal)
ACTION = "picks"            # picks: sample only the picked numbers | profile: the words and the picks
MAX_COMPLETION = 12         # tokens per completion (picks: " 1, 2, 3" and the end; profile: raise to 32)
EVAL_BATCH = 32
EVAL_NEW_TOKENS = 32        # greedy held-out profiles: the inference scripts' MAX_NEW_TOKENS
RM_STEPS = 30               # learned reward: reward-model training steps
SEED = 0
THREADS = 0                 # CPU torch threads (0 = all cores)
WANDB = False
OUT = "grpo"
config = apply_overrides(globals(), choices={"SETTING": LLM_SETTINGS, "REWARD": ("rec", "learned"),
                                             "ITEM_VECTORS": ("text", "profile"), "ACTION": ("picks", "profile")})
setup(SEED, THREADS)
if (BATCH_SIZE * GRAD_ACCUM) % NUM_GENERATIONS:
    raise SystemExit(f"error: --batch_size x --grad_accum ({BATCH_SIZE * GRAD_ACCUM}) must be a multiple of "
                     f"--num_generations {NUM_GENERATIONS}")

# ---- data: users with enough training items; the reward's held-out items are training items
ds = load_dataset(DATA)
view = train_view(ds, SETTING)
init = require_adapter(DATA, SETTING, INIT_ADAPTER, "llm/lora/sft_base_mask.py")
item_notes = None
if init is not None and read_stage(init).get("item_notes"):  # bidirectional: item profiles annotate the items
    item_notes = load_bank(profile_path(DATA, SETTING, "item_profile"))
eligible = [int(u) for u in view.train_users if len(view.sequence(int(u))) > K_HOLDOUT + 1]
rng = np.random.default_rng(SEED)
picked = [int(u) for u in rng.choice(eligible, min(len(eligible), N_TRAIN_USERS + N_EVAL_USERS), replace=False)]
eval_users, train_users = sorted(picked[:N_EVAL_USERS]), sorted(picked[N_EVAL_USERS:])


def examples_of(users):
    out = [grpo_example(view, u, K_HOLDOUT, N_NEGATIVES, MAX_ITEMS, SEED, item_notes) for u in users]
    return [e for e in out if e is not None]


train_ex, eval_ex = examples_of(train_users), examples_of(eval_users)
dump_examples(train_data_path(DATA, SETTING, OUT), train_ex)
dump_examples(train_data_path(DATA, SETTING, f"{OUT}_eval"), eval_ex)

# ---- the reward: item vectors from the items' text (or their profiles)
vec_path = dataset_dir(DATA) / "item_text.npy" if ITEM_VECTORS == "text" else \
    embedding_path(DATA, SETTING, "item_profile")
rec_reward = RecReward(load_embeddings(vec_path, ds, "item"), ENCODER)
print(f"grpo: {len(train_ex)} training users, {len(eval_ex)} held-out users, {K_HOLDOUT} hidden items among "
      f"{K_HOLDOUT + N_NEGATIVES} candidates (random ranking NDCG = {random_baseline(K_HOLDOUT, K_HOLDOUT + N_NEGATIVES):.3f})")

# ---- model: continue (b)'s LoRA; completions end at the profile's line end
tokenizer = load_tokenizer(MODEL, padding_side="left")
model = trainable_model(MODEL, init, load_in_4bit=LOAD_IN_4BIT)
base = model.get_base_model()
base.generation_config.eos_token_id = stop_token_ids(tokenizer, base, newline=True)
base.generation_config.pad_token_id = tokenizer.pad_token_id
prompts = {e.subject: render(tokenizer, e.messages, e.prefill) for e in train_ex + eval_ex}


def greedy_lines(policy, examples) -> list[str]:
    """What the policy writes after each prompt's facts, greedy and held to the shape (as inference decodes)."""
    policy.eval()
    s = GenSettings(max_new_tokens=EVAL_NEW_TOKENS, batch_size=EVAL_BATCH, no_repeat_ngram=0, seed=SEED, shape="user")
    out = []
    for b in range(0, len(examples), EVAL_BATCH):
        batch = examples[b:b + EVAL_BATCH]
        out += [t for t, _ in generate_batch(policy, tokenizer, [prompts[e.subject] for e in batch], s,
                                             picks=[len(e.extra["options"]) for e in batch])]
    policy.train()
    return out


def held_out_reward(policy) -> dict:
    """Mean reward of greedy one-line profiles on the held-out users (the number that should rise)."""
    texts = [completion_text(t, e.prefill, e.extra["options"]) for e, t in zip(eval_ex, greedy_lines(policy, eval_ex))]
    res = mean_reward(rec_reward, texts, [e.extra["heldout"] for e in eval_ex],
                      [e.extra["candidates"] for e in eval_ex], FORMAT_WEIGHT)
    res["example"] = texts[0] if texts else ""
    return res


def action_prefills(policy) -> dict[int, str]:
    """Per training user, what a completion continues: the facts, and with ACTION "picks" also the
    initial policy's own greedy words up to the picks' label."""
    if ACTION == "profile":
        return {e.subject: e.prefill for e in train_ex}
    label = f"; {P.USER_FIELDS[-1]}:"
    return {e.subject: e.prefill + t[:t.index(label) + len(label)] if label in t else e.prefill
            for e, t in zip(train_ex, greedy_lines(policy, train_ex))}


before = None
if is_main_process():  # the held-out evaluation runs once, on this process's device
    t0 = time.perf_counter()
    if not LOAD_IN_4BIT:
        model.to(pick_device())
    before = held_out_reward(model)
    print(f"held-out reward before GRPO: {before['reward']:.4f} (NDCG {before['rec_ndcg']:.4f}, format "
          f"{before['format']:.2f}) [{time.perf_counter() - t0:.0f} s]\n   e.g. {before['example']}")

# ---- reward functions
if REWARD == "rec":
    reward_funcs, weights, reward_tok = [rec_reward, format_reward], [1.0, FORMAT_WEIGHT], None
else:
    bank = teacher_bank(DATA, SETTING, "user")
    rm_users = sorted(set(bank) - set(eval_users))
    rm_prompts = [render(tokenizer, P.user_prompt(user_record(view, u, max_items=MAX_ITEMS).text)) for u in rm_users]
    rm = train_reward_model(MODEL, tokenizer, rm_prompts, [bank[u] for u in rm_users],
                            adapter_dir(DATA, SETTING, f"{OUT}_reward_model"), steps=RM_STEPS, lr=LR,
                            batch_size=4, seed=SEED)
    reward_funcs, weights, reward_tok = [rm, format_reward], [1.0, FORMAT_WEIGHT], [tokenizer, None]

# ---- train
from datasets import Dataset  # noqa: E402  (after the reward model, which may be slow to train)
from trl import GRPOConfig  # noqa: E402

out = adapter_dir(DATA, SETTING, OUT)
prefills = action_prefills(model)
train_ds = Dataset.from_list([{"prompt": render(tokenizer, e.messages, prefills[e.subject]), "heldout": e.extra["heldout"],
                               "candidates": e.extra["candidates"], "prefill": prefills[e.subject],
                               "options": e.extra["options"], "user": e.subject}
                              for e in train_ex])
print(f"GRPO samples {'the picked numbers after the initial words' if ACTION == 'picks' else 'whole continuations'},"
      f" e.g. ...{prefills[train_ex[0].subject][-120:]}")
args = GRPOConfig(output_dir=str(out / "checkpoints"), max_steps=STEPS, per_device_train_batch_size=BATCH_SIZE,
                  num_generations=NUM_GENERATIONS, gradient_accumulation_steps=GRAD_ACCUM, learning_rate=LR,
                  beta=BETA, temperature=TEMPERATURE, max_completion_length=MAX_COMPLETION,
                  reward_weights=weights, logging_steps=1, **checkpoint_args(), report_to=report_to(WANDB),
                  run_name=f"{OUT}-{DATA}-{SETTING}", seed=SEED, remove_unused_columns=False,
                  lr_scheduler_type="constant", **precision_kwargs(False))
trainer = grpo_trainer(model=model, reward_funcs=reward_funcs, args=args, train_dataset=train_ds,
                       processing_class=tokenizer, reward_processing_classes=reward_tok)
train_resumably(trainer, training_signature(model, train_ds.to_list(), config))   # a killed run continues
trainer.save_model(str(out))

# ---- after: the same held-out users, and the curves
if trainer.accelerator.is_main_process:
    after = held_out_reward(trainer.accelerator.unwrap_model(trainer.model))
    train_curve = curve(trainer.state.log_history, "reward")
    parts = {k: curve(trainer.state.log_history, k) for k in
             ("rewards/rec_ndcg/mean", "rewards/format_reward/mean", "kl", "loss")}
    start, end = ends(train_curve)
    write_json(out / "reward_curve.json", {"train_reward": train_curve, **parts, "held_out_before": before,
                                           "held_out_after": after, "reward": REWARD})
    plot_curve(train_curve, IMG / f"grpo_reward_{DATA}_{SETTING}.png", f"GRPO reward ({DATA}, {SETTING})",
               "mean reward")
    print(f"GRPO training reward (sampled, first/last 3 steps of {len(train_curve)}): {start:.4f} -> {end:.4f}")
    print(f"held-out reward (greedy, {len(eval_ex)} users): before {before['reward']:.4f} -> after "
          f"{after['reward']:.4f}  (NDCG {before['rec_ndcg']:.4f} -> {after['rec_ndcg']:.4f}, format "
          f"{before['format']:.2f} -> {after['format']:.2f})\n   e.g. {after['example']}")
    write_stage(out, **stage_info(config, stage="grpo", model=model_path(MODEL), parent=str(init or ""),
                                  item_notes=item_notes is not None, held_out_before=before["reward"],
                                  held_out_after=after["reward"], train_reward_start=start,
                                  train_reward_end=end))
