"""SASRec on a prepared dataset, with any representation method.

    cd base_models/SASRec && python Main.py --data ml-100k                 # longtail, 100 stored negatives
    cd base_models/SASRec && python Main.py --data ml-100k --eval full     # the benchmark's full ranking
    python base_models/SASRec/Main.py --data ml-100k --setting coldstart --method pte

The constants below are the recipe behind the published numbers (RESULTS.md), per setting
where the two differ; reproduce.py runs this script with them unchanged.

Both settings train next-item prediction at every position of causal windows over each
training user's sequence (pte.batch.causal_windows): with STRIDE s, a target is predicted
once, from >= MAX_LEN - s items of context. In coldstart (MAX_LEN 10) the first item is a
target too, from an empty history, so stride 1 gives exactly the protocol's (prefix of <= 10
items -> next item) samples; the default stride 5 trains 2-3x faster, see the README.
"""
import torch

from model import SASRec

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
LAYERS = 2              # the protocol papers run coldstart with 1 block / 1 head; 2 / 2 here in both
HEADS = 2               # settings (chosen with the backbone benchmark, never compared on coldstart)
DROPOUT = {"coldstart": 0.2, "longtail": 0.5}
NORM = {"coldstart": "pre", "longtail": "post"}  # pre: pre-LayerNorm blocks | post: RecBole's layout and
                        # N(0, 0.02) init (model.py); post wins on longtail validation, loses on coldstart
INNER = {"coldstart": 64, "longtail": 256}       # feed-forward width (64 = DIM, the original's point-wise layer)
MAX_LEN = {"coldstart": 10, "longtail": 50}      # history length (coldstart's protocol: 10; longtail's allows 200)
STRIDE = {"coldstart": 5, "longtail": 25}        # training windows end every STRIDE items (pte.batch.causal_windows)
LOSS = "ce"             # ce (softmax over all items) | bce (one sampled negative)
EPOCHS = {"coldstart": 40, "longtail": 60}
PATIENCE = {"coldstart": 5, "longtail": 10}      # evaluations without a better validation score before stopping
EVAL_EVERY = 1
BATCH_SIZE = {"coldstart": 64, "longtail": 32}   # windows per step
LR = 1e-3
WEIGHT_DECAY = 0.0
FRACTION = 1.0          # < 1: evaluate on a random part of the rows (smoke runs)
MAX_STEPS = 0           # > 0: at most this many training steps per epoch (smoke runs)
RESUME = True           # continue an interrupted run from its last epoch (outputs/<data>/checkpoints/)
DEVICE = "auto"
SAVE_TOPK = ""          # path: write the top-50 lists of every test row (JSON lines)
SAVE_ITEMS = ""         # path (.npy): write the trained item vectors (for figures/analysis)
WANDB = False
TAG = ""                # a label stored with the results line (reproduce.py and bench/ find their runs by it)

config = apply_overrides(globals(), choices={"SETTING": SETTINGS, "LOSS": ("ce", "bce"), "NORM": ("pre", "post")},
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
                                           backbone="SASRec"))
model = SASRec(rep, ds.n_items, MAX_LEN, LAYERS, HEADS, DROPOUT, INNER, NORM).to(device)
optimizer = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
log = wandb_run(WANDB, "pte-rec", config)


def train_epoch(epoch: int) -> float:
    return descend(optimizer, (model.loss(train_users[idx].to(device), train_inputs[idx].to(device),
                                          train_targets[idx].to(device), LOSS)
                               for idx in batches(len(train_targets), BATCH_SIZE)), MAX_STEPS)


def score(rows) -> torch.Tensor:
    users = torch.as_tensor(rows.users, dtype=torch.long, device=device)
    return model.score(users, as_tensor(rows.inputs, ds.n_items, device))


# ---- train, select on validation, test once
sel = fit(model, train_epoch, score, split, mode, EPOCHS, PATIENCE, EVAL_EVERY, log,
          Checkpoint.of(config, "SASRec", optimizer) if RESUME else None)
finish(score=score, ds=ds, split=split, sel=sel, config=config, backbone="SASRec", method=METHOD, rep=rep)
