"""DreamRec on a prepared dataset, with any representation method.

    cd base_models/DreamRec && python Main.py --data ml-100k --setting coldstart
    python base_models/DreamRec/Main.py --data ml-100k --setting longtail --method pte
    python base_models/DreamRec/Main.py --sampler ddpm                     # all T reverse steps, as the original

The constants below are the recipe behind the published numbers (RESULTS.md), per setting
where the two differ; reproduce.py runs this script with them unchanged.

Both settings train on causal windows over each training user's sequence, as SASRec does
(pte.batch.causal_windows): the encoder is causal, so one pass gives the condition of every
(prefix -> next item) position, and each position is one diffusion sample; BATCH_SIZE
counts windows. Evaluation generates one embedding per row by reverse diffusion, batched
over the rows, with noise from a generator seeded anew for every scored batch, so
validation numbers are reproducible and every epoch is judged on the same noise.
"""
import torch

from model import DENOISERS, SAMPLERS, SCHEDULES, DreamRec

from pte import reps
from pte.batch import as_tensor, batches, causal_windows
from pte.config import apply_overrides
from pte.experiment import Checkpoint, descend, eval_mode, finish, fit, load_data, pick_device, seed_everything, wandb_run
from pte.splits import SETTINGS

DATA = "ml-100k"        # prepared dataset name (data/<name>/) or folder
SETTING = "longtail"    # coldstart | longtail
METHOD = "base"         # representation method, see pte/reps/__init__.py
ITEM_EMB = ""           # item language/profile embeddings (.npy + sidecar); "" = the method's default
USER_EMB = ""           # user profile embeddings, for methods with a user side
EVAL = "auto"           # full | sampled | auto (the setting's protocol: longtail sampled, coldstart full)
SEED = 2024
DIM = 64
LAYERS = 1              # the original: one block, one head
HEADS = 1
DROPOUT = 0.1
MAX_LEN = {"coldstart": 10, "longtail": 200}    # history length (the protocols')
STRIDE = {"coldstart": 5, "longtail": 200}      # training windows end every STRIDE items (pte.batch.causal_windows)
TIMESTEPS = 200         # T of the DDPM
BETA_SCHEDULE = "exp"   # exp (the original's default) | linear | cosine
BETA_START = 1e-4       # linear schedule only
BETA_END = 0.02
GUIDANCE = 2.0          # classifier-free guidance weight w
P_UNCOND = 0.1          # probability of dropping the condition in training
DENOISER = "mlp1"       # mlp1: Linear(3d, d), the original's default | mlp2: Linear -> GELU -> Linear
ITEM_NORM = True        # rescale the item table to unit RMS, the scale of the diffusion noise (see model.py)
TARGET_GRAD = False     # True: gradients also flow through the diffusion target, as the original (collapses; model.py)
SAMPLER = "ddim"        # ddim: DDIM_STEPS deterministic steps | ddpm: all T ancestral steps (the original; 10x slower)
DDIM_STEPS = 20
EPOCHS = 30
PATIENCE = 5            # evaluations without a better validation score (validation plateaus early, noisily)
EVAL_EVERY = 1
BATCH_SIZE = {"coldstart": 64, "longtail": 32}  # windows per step (about 320 / 2,800 diffusion samples)
LR = 1e-3               # the original's 5e-3 is unstable with ID tables initialised at std 0.02
WEIGHT_DECAY = 0.0
FRACTION = 1.0          # < 1: evaluate on a random part of the rows (smoke runs)
MAX_STEPS = 0           # > 0: at most this many training steps per epoch (smoke runs)
RESUME = True           # continue an interrupted run from its last epoch (outputs/<data>/checkpoints/)
DEVICE = "auto"
SAVE_TOPK = ""          # path: write the top-50 lists of every test row (JSON lines)
SAVE_ITEMS = ""         # path (.npy): write the trained item vectors (for figures/analysis)
WANDB = False
TAG = ""                # a label stored with the results line (reproduce.py and bench/ find their runs by it)

config = apply_overrides(globals(), choices={"SETTING": SETTINGS, "BETA_SCHEDULE": SCHEDULES,
                                             "DENOISER": DENOISERS, "SAMPLER": SAMPLERS},
                         extra=reps.method_namespaces())
seed_everything(SEED)
device = pick_device(DEVICE)

# ---- data
ds, split = load_data(DATA, SETTING, FRACTION)
mode = eval_mode(SETTING, EVAL, split)
users, inputs, targets = causal_windows(split, MAX_LEN, STRIDE, empty_prefix=SETTING == "coldstart")
train_users = torch.as_tensor(users, dtype=torch.long)
train_inputs, train_targets = as_tensor(inputs, ds.n_items), as_tensor(targets, ds.n_items)

# ---- model
rep = reps.build(METHOD, reps.RepContext(ds, split, DIM, device, {"item_emb": ITEM_EMB, "user_emb": USER_EMB},
                                           backbone="DreamRec"))
model = DreamRec(rep, ds.n_items, MAX_LEN, LAYERS, HEADS, DROPOUT, TIMESTEPS, BETA_SCHEDULE, BETA_START, BETA_END,
                 GUIDANCE, P_UNCOND, DENOISER, ITEM_NORM, TARGET_GRAD).to(device)
optimizer = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
log = wandb_run(WANDB, "pte-rec", config)


def train_epoch(epoch: int) -> float:
    return descend(optimizer, (model.loss(train_users[idx].to(device), train_inputs[idx].to(device),
                                          train_targets[idx].to(device))
                               for idx in batches(len(train_targets), BATCH_SIZE)), MAX_STEPS)


def score(rows) -> torch.Tensor:
    generator = torch.Generator(device).manual_seed(SEED)  # same noise for the same rows, every epoch
    users = torch.as_tensor(rows.users, dtype=torch.long, device=device)
    return model.score(users, as_tensor(rows.inputs, ds.n_items, device), generator, SAMPLER, DDIM_STEPS)


# ---- train, select on validation, test once
sel = fit(model, train_epoch, score, split, mode, EPOCHS, PATIENCE, EVAL_EVERY, log,
          Checkpoint.of(config, "DreamRec", optimizer) if RESUME else None)
row = finish(score=score, ds=ds, split=split, sel=sel, config=config, backbone="DreamRec", method=METHOD, rep=rep)
steps = TIMESTEPS if SAMPLER == "ddpm" else len(model.diffusion.ddim_steps(DDIM_STEPS))
print(f"speed: {row['train_seconds'] / max(row['epochs_run'], 1):.2f} s per training epoch; "
      f"one test evaluation ({len(split.test)} rows, {SAMPLER}, {steps} reverse steps) {row['eval_seconds']:.2f} s")
