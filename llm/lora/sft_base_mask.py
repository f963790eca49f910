"""(b) Collaborative instruction tuning, user side, continuing (a)'s adapter.

    cd llm/lora && python sft_base_mask.py
    python llm/lora/sft_base_mask.py --steps 300 --batch_size 8              # GPU-sized
    accelerate launch --config_file llm/configs/single_gpu.yaml llm/lora/sft_base_mask.py
    accelerate launch --config_file llm/configs/multi_gpu.yaml llm/lora/sft_base_mask.py
    accelerate launch --config_file llm/configs/zero2.yaml llm/lora/sft_base_mask.py

A two-turn chat per user. Turn 1: the user's record with one training item held out
(masked) -> the profile that record supports (its facts and collaborative field, the
teacher's words). Turn 2: "Will this user choose <item>?" -> Yes (the held-out item) or No
(an item often chosen together with the record's last two items that this user never chose),
50/50. Loss on both answers only. Co-choices: training interactions only.
Writes outputs/<data>/<setting>/adapters/sft_base_mask/ and train_data/sft_base_mask.jsonl.
"""
from pte.config import apply_overrides
from pte.data import load_dataset
from pte.llm.data import LLM_SETTINGS, mask_example, sample_ids, train_view
from pte.llm.model import BUNDLED, load_tokenizer, model_path, trainable_model, write_stage
from pte.llm.profiles import require_adapter, teacher_bank
from pte.pipeline import adapter_dir, train_data_path
from pte.llm.train import dump_examples, setup, sft, stage_info

DATA = "ml-100k"
SETTING = "both"           # training interactions: both = those both settings train on (one set of
                            # adapters serves coldstart and longtail) | longtail | coldstart
MODEL = BUNDLED
INIT_ADAPTER = "sft_base"   # continue (a); "none" starts a fresh LoRA on the base model
LOAD_IN_4BIT = False
MAX_ITEMS = 8               # own training items in the prompt
N_USERS = 0                 # teacher-profiled users to train on (0 = all)
STEPS = 16                  # optimizer steps (CPU-sized; 0 = EPOCHS)
EPOCHS = 1.0
BATCH_SIZE = 4
GRAD_ACCUM = 1
LR = 3e-4
MAX_LENGTH = 1024
LORA_R, LORA_ALPHA, LORA_DROPOUT = 8, 16, 0.1   # used only when starting a fresh LoRA
SEED = 0
THREADS = 0                 # CPU torch threads (0 = all cores)
WANDB = False
OUT = "sft_base_mask"
config = apply_overrides(globals(), choices={"SETTING": LLM_SETTINGS})
setup(SEED, THREADS)

# ---- data: masked examples, from training interactions only
ds = load_dataset(DATA)
view = train_view(ds, SETTING)
bank = teacher_bank(DATA, SETTING, "user")
users = sample_ids(sorted(bank), N_USERS, SEED)
examples = [e for u in users if (e := mask_example(view, int(u), bank, MAX_ITEMS, SEED)) is not None]
dump_examples(train_data_path(DATA, SETTING, OUT), examples)
yes = sum(e.extra["answer"] == "Yes" for e in examples)
print(f"sft_base_mask: {len(examples)} examples ({yes} Yes / {len(examples) - yes} No) from {len(bank)} teacher profiles")

# ---- model: continue (a)'s LoRA
init = require_adapter(DATA, SETTING, INIT_ADAPTER, "llm/lora/sft_base.py")
tokenizer = load_tokenizer(MODEL, padding_side="right")
model = trainable_model(MODEL, init, load_in_4bit=LOAD_IN_4BIT, r=LORA_R, alpha=LORA_ALPHA, dropout=LORA_DROPOUT)

# ---- train and save
out = adapter_dir(DATA, SETTING, OUT)
result = sft(model, tokenizer, examples, out, steps=STEPS, epochs=EPOCHS, batch_size=BATCH_SIZE,
             grad_accum=GRAD_ACCUM, lr=LR, max_length=MAX_LENGTH, seed=SEED, wandb=WANDB,
             run_name=f"{OUT}-{DATA}-{SETTING}")
write_stage(out, **stage_info(config, stage="sft_base_mask", model=model_path(MODEL), parent=str(init or ""),
                              examples=len(examples), loss_start=result["start"], loss_end=result["end"],
                              item_notes=False))
