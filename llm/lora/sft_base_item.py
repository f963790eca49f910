"""(d) Collaborative instruction tuning, item side (+ optional bidirectional user <-> item rounds).

    cd llm/lora && python sft_base_item.py
    python llm/lora/sft_base_item.py --steps 300 --batch_size 8               # GPU-sized
    python llm/lora/sft_base_item.py --rounds 2                              # bidirectional rounds
    accelerate launch --config_file llm/configs/single_gpu.yaml llm/lora/sft_base_item.py
    accelerate launch --config_file llm/configs/multi_gpu.yaml llm/lora/sft_base_item.py
    accelerate launch --config_file llm/configs/zero2.yaml llm/lora/sft_base_item.py

Prompt: the item's text, who chose it (training interactions only) and the items most often
chosen with it (cosine over training co-occurrence); target: the teacher's item profile.
Starts from the user side's collaborative adapter (b) by default.

Bidirectional rounds (--rounds R > 1, the release's alternation): after each item round,
the item adapter writes profiles of the teacher-profiled items, which become notes in
the user-side records ("[suited for: ...]" after each item) for another round of (b)
(its adapter is updated in place); the user adapter then writes user profiles, which
become notes on the choosers in the next item round. Consumers read pte_stage.json:
with notes, run inference in this order: inference_base -> inference_base_item ->
rlhf/rl_training -> inference_base_mask (each side's profiles feed the other's prompts).
"""
from pte.config import apply_overrides
from pte.data import load_dataset
from pte.llm import prompts as P
from pte.llm.data import (LLM_SETTINGS, N_CO_CHOSEN, item_example, item_record, mask_example, render, sample_ids,
                          train_view, user_record)
from pte.llm.generate import GenSettings, Job, generate_batch
from pte.llm.model import BUNDLED, load_tokenizer, model_path, read_stage, trainable_model, write_stage
from pte.llm.profiles import require_adapter, teacher_bank
from pte.pipeline import adapter_dir, train_data_path
from pte.llm.train import dump_examples, setup, sft, stage_info

DATA = "ml-100k"
SETTING = "both"           # training interactions: both = those both settings train on (one set of
                            # adapters serves coldstart and longtail) | longtail | coldstart
MODEL = BUNDLED
INIT_ADAPTER = "sft_base_mask"   # start from the user side's collaborative adapter; "none" = fresh LoRA
USER_ADAPTER = "sft_base_mask"   # bidirectional rounds: the user-side adapter they update
LOAD_IN_4BIT = False
N_CHOOSERS = 4              # users described per item
N_ITEMS = 0                 # teacher-profiled items to train on (0 = all)
ROUNDS = 1                  # > 1: bidirectional user <-> item rounds
STEPS = 16                  # optimizer steps per round (CPU-sized; 0 = EPOCHS)
USER_STEPS = 15             # user-side steps per extra round
EPOCHS = 1.0
BATCH_SIZE = 4
GRAD_ACCUM = 1
LR = 3e-4
MAX_LENGTH = 768
GEN_BATCH = 32              # bidirectional rounds: batch size when writing profiles
LORA_R, LORA_ALPHA, LORA_DROPOUT = 8, 16, 0.1
SEED = 0
THREADS = 0                 # CPU torch threads (0 = all cores)
WANDB = False
OUT = "sft_base_item"
config = apply_overrides(globals(), choices={"SETTING": LLM_SETTINGS})
setup(SEED, THREADS)

# ---- data
ds = load_dataset(DATA)
view = train_view(ds, SETTING)
item_bank = teacher_bank(DATA, SETTING, "item")
user_bank = teacher_bank(DATA, SETTING, "user")
items = sample_ids(sorted(item_bank), N_ITEMS, SEED)
co_chosen = view.item_neighbours(items, N_CO_CHOSEN)


def item_examples(chooser_notes: dict[int, str] | None) -> list:
    """Targets are always the teacher's; chooser notes (bidirectional rounds) are the latest round's."""
    return [item_example(view, int(i), item_bank[int(i)], co_chosen[int(i)], N_CHOOSERS, chooser_notes, SEED)
            for i in items]


def write_profiles(model, tokenizer, records: dict, kind: str) -> dict[int, str]:
    """Profiles written by the current adapter (greedy, one line, after the facts), keeping the valid ones."""
    model.eval()
    prompt = P.user_prompt if kind == "user" else P.item_prompt
    jobs = [Job(i, render(tokenizer, prompt(r.text), pre := P.head_prefill(kind, r.head)), pre,
                meta={"options": r.options}) for i, r in records.items()]
    out = {}
    for b in range(0, len(jobs), GEN_BATCH):
        batch = jobs[b:b + GEN_BATCH]
        texts = generate_batch(model, tokenizer, [j.prompt for j in batch],
                               GenSettings(max_new_tokens=32, no_repeat_ngram=0, seed=SEED))
        for j, (t, _) in zip(batch, texts):
            line = P.resolve(" ".join((j.prefill + t).split("\n", 1)[0].split()), kind, j.meta["options"])
            if line and P.check_profile(line, kind) is None:
                out[j.id] = line
    model.train()
    print(f"   round profiles: {len(out)}/{len(jobs)} valid {kind} profiles")
    return out


# ---- model
init = require_adapter(DATA, SETTING, INIT_ADAPTER, "llm/lora/sft_base_mask.py")
tokenizer = load_tokenizer(MODEL, padding_side="right")
model = trainable_model(MODEL, init, load_in_4bit=LOAD_IN_4BIT, r=LORA_R, alpha=LORA_ALPHA, dropout=LORA_DROPOUT)
out = adapter_dir(DATA, SETTING, OUT)

# ---- round 1: item side with teacher context
examples = item_examples(None)
dump_examples(train_data_path(DATA, SETTING, OUT), examples)
print(f"sft_base_item: {len(examples)} examples from {len(item_bank)} teacher item profiles")
result = sft(model, tokenizer, examples, out, steps=STEPS, epochs=EPOCHS, batch_size=BATCH_SIZE,
             grad_accum=GRAD_ACCUM, lr=LR, max_length=MAX_LENGTH, seed=SEED, wandb=WANDB,
             run_name=f"{OUT}-{DATA}-{SETTING}")
history = [{"round": 1, "side": "item", "loss_start": result["start"], "loss_end": result["end"]}]

# ---- bidirectional rounds: each side's latest profiles feed the other's prompts
chooser_notes = None
for rnd in range(2, ROUNDS + 1):
    user_dir = require_adapter(DATA, SETTING, USER_ADAPTER, "llm/lora/sft_base_mask.py")
    # item -> user: the item adapter's profiles become notes in the user-side prompts
    recs = {int(i): item_record(view, int(i), co_chosen[int(i)], N_CHOOSERS, chooser_notes, SEED) for i in items}
    item_notes = write_profiles(model, tokenizer, recs, "item")
    user_model = trainable_model(MODEL, user_dir, load_in_4bit=LOAD_IN_4BIT)
    users = sorted(user_bank)
    user_ex = [e for u in users if (e := mask_example(view, u, user_bank, seed=SEED + rnd, item_bank=item_notes))
               is not None]
    dump_examples(train_data_path(DATA, SETTING, f"{USER_ADAPTER}_round{rnd}"), user_ex)
    r_user = sft(user_model, tokenizer, user_ex, user_dir, steps=USER_STEPS, epochs=EPOCHS, batch_size=BATCH_SIZE,
                 grad_accum=GRAD_ACCUM, lr=LR, max_length=1024, seed=SEED + rnd, wandb=WANDB,
                 run_name=f"{USER_ADAPTER}-round{rnd}-{DATA}-{SETTING}")
    write_stage(user_dir, **{**read_stage(user_dir), "item_notes": True, "bidirectional_round": rnd})
    # user -> item: the user adapter's profiles become notes on the choosers
    urecs = {u: user_record(view, u, item_bank=item_notes) for u in users}
    chooser_notes = write_profiles(user_model, tokenizer, urecs, "user")
    del user_model
    examples = item_examples(chooser_notes)
    dump_examples(train_data_path(DATA, SETTING, f"{OUT}_round{rnd}"), examples)
    result = sft(model, tokenizer, examples, out, steps=STEPS, epochs=EPOCHS, batch_size=BATCH_SIZE,
                 grad_accum=GRAD_ACCUM, lr=LR, max_length=MAX_LENGTH, seed=SEED + rnd, wandb=WANDB,
                 run_name=f"{OUT}-round{rnd}-{DATA}-{SETTING}")
    history += [{"round": rnd, "side": "user", "loss_start": r_user["start"], "loss_end": r_user["end"]},
                {"round": rnd, "side": "item", "loss_start": result["start"], "loss_end": result["end"]}]

write_stage(out, **stage_info(config, stage="sft_base_item", model=model_path(MODEL), parent=str(init or ""),
                              examples=len(examples), rounds=history, user_notes=ROUNDS > 1,
                              loss_start=history[0]["loss_start"], loss_end=history[-1]["loss_end"]))
