"""(a) Knowledge-distillation SFT, user side: write the teacher's profile from the user's training items.

    cd llm/lora && python sft_base.py
    python llm/lora/sft_base.py --steps 300 --batch_size 8                  # GPU-sized
    accelerate launch --config_file llm/configs/single_gpu.yaml llm/lora/sft_base.py
    accelerate launch --config_file llm/configs/multi_gpu.yaml llm/lora/sft_base.py
    accelerate launch --config_file llm/configs/zero2.yaml llm/lora/sft_base.py

Needs llm/teacher.py's users.jsonl. Writes the LoRA adapter to
outputs/<data>/<setting>/adapters/sft_base/ (+ loss_curve.json) and the training data to
outputs/<data>/<setting>/train_data/sft_base.jsonl. Loss on the answer tokens only.
"""
from pte.config import apply_overrides
from pte.data import load_dataset
from pte.llm.data import LLM_SETTINGS, kd_example, sample_ids, train_view
from pte.llm.model import BUNDLED, load_tokenizer, model_path, trainable_model, write_stage
from pte.llm.profiles import teacher_bank
from pte.pipeline import adapter_dir, train_data_path
from pte.llm.train import dump_examples, setup, sft, stage_info

DATA = "ml-100k"
SETTING = "both"           # training interactions: both = those both settings train on (one set of
                            # adapters serves coldstart and longtail) | longtail | coldstart
MODEL = BUNDLED             # any HF causal LM path/name ("smollm2" = the bundled SmolLM2-135M-Instruct)
LOAD_IN_4BIT = False        # GPU + bitsandbytes: the paper's 4-bit LoRA
MAX_ITEMS = 8               # recent training items in the prompt
N_USERS = 0                 # teacher-profiled users to train on (0 = all of them)
STEPS = 16                  # optimizer steps (CPU-sized; 0 = EPOCHS over the data)
EPOCHS = 1.0
BATCH_SIZE = 4
GRAD_ACCUM = 1
LR = 3e-4
MAX_LENGTH = 512
LORA_R, LORA_ALPHA, LORA_DROPOUT = 8, 16, 0.1   # the release's LoRA
SEED = 0
THREADS = 0                 # CPU torch threads (0 = all cores)
WANDB = False               # log to Weights & Biases (offline unless WANDB_MODE says otherwise)
OUT = "sft_base"
config = apply_overrides(globals(), choices={"SETTING": LLM_SETTINGS})
setup(SEED, THREADS)

# ---- data: teacher profiles as targets, the user's record (training items, titles chosen with the last) as prompt
ds = load_dataset(DATA)
view = train_view(ds, SETTING)
bank = teacher_bank(DATA, SETTING, "user")
users = sample_ids(sorted(bank), N_USERS, SEED)
examples = [kd_example(view, int(u), bank[int(u)], MAX_ITEMS) for u in users]
dump_examples(train_data_path(DATA, SETTING, OUT), examples)
print(f"sft_base: {len(examples)} examples from {len(bank)} teacher profiles ({SETTING})")

# ---- model: a fresh LoRA on the base model
tokenizer = load_tokenizer(MODEL, padding_side="right")
model = trainable_model(MODEL, None, load_in_4bit=LOAD_IN_4BIT, r=LORA_R, alpha=LORA_ALPHA, dropout=LORA_DROPOUT)

# ---- train and save
out = adapter_dir(DATA, SETTING, OUT)
result = sft(model, tokenizer, examples, out, steps=STEPS, epochs=EPOCHS, batch_size=BATCH_SIZE,
             grad_accum=GRAD_ACCUM, lr=LR, max_length=MAX_LENGTH, seed=SEED, wandb=WANDB,
             run_name=f"{OUT}-{DATA}-{SETTING}")
write_stage(out, **stage_info(config, stage="sft_base", model=model_path(MODEL), parent=None,
                              examples=len(examples), loss_start=result["start"], loss_end=result["end"]))
