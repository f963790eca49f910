"""BiasMF (BPR) on a prepared dataset, with any representation method.

    cd base_models/BiasMF && python Main.py --data ml-100k
    python base_models/BiasMF/Main.py --data ml-100k --setting coldstart --method pte

longtail: users have ID vectors (or whatever the method gives). coldstart: test users are
unseen, so every user is folded in from their prefix items (see model.py).
"""
import torch

from model import BiasMF

from pte import reps
from pte.batch import as_tensor, batches, grouped_batches
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
EPOCHS = 300
PATIENCE = 20           # epochs without a better validation score before stopping
EVAL_EVERY = 1
BATCH_SIZE = 2048
LR = 2e-3
LOSS = "bpr"            # bpr (the paper's) | softmax: cross-entropy against every item (or NEGATIVES
                        # items shared by the batch); with --lr 1e-2 --reg 5e-2 the better one on
                        # validation, see README "Benchmarks"
REG = 1e-5              # L2 on the batch's user and item vectors
NEGATIVES = 0           # bpr: sampled negatives per positive, loss averaged over them (0 = 1);
                        # softmax: candidates shared by the batch (0 or >= the item count: every item)
NEG_RETRIES = 3         # longtail: redraw negatives the user trained on, up to this many rounds
FRACTION = 1.0          # < 1: evaluate on a random part of the rows (smoke runs)
MAX_STEPS = 0           # > 0: at most this many training steps per epoch (smoke runs)
RESUME = True           # continue an interrupted run from its last epoch (outputs/<data>/checkpoints/)
DEVICE = "auto"
SAVE_TOPK = ""          # path: write the top-50 lists of every test row (JSON lines)
SAVE_ITEMS = ""         # path (.npy): write the trained item vectors (for figures/analysis)
WANDB = False
TAG = ""                # a label stored with the results line (reproduce.py and bench/ find their runs by it)

config = apply_overrides(globals(), choices={"SETTING": SETTINGS, "LOSS": ("bpr", "softmax")},
                         extra=reps.method_namespaces())
seed_everything(SEED)
device = pick_device(DEVICE)

# ---- data
ds, split = load_data(DATA, SETTING, FRACTION)
mode = eval_mode(SETTING, EVAL, split)
if NEGATIVES < 0:
    raise SystemExit(f"--negatives {NEGATIVES}: must be >= 0 (0 = the loss's default)")
n_negatives = NEGATIVES or (1 if LOSS == "bpr" else ds.n_items)
full_softmax = LOSS == "softmax" and n_negatives >= ds.n_items
if SETTING == "coldstart":  # (prefix -> next item) samples of training users
    train_users = torch.as_tensor(split.train_samples.users, dtype=torch.long)
    train_inputs = as_tensor(split.train_samples.inputs, ds.n_items)
    train_pos = torch.as_tensor(split.train_samples.targets, dtype=torch.long)
else:                       # (user, item) training interactions
    u, i = split.train_pairs
    train_users, train_pos = torch.as_tensor(u, dtype=torch.long), torch.as_tensor(i, dtype=torch.long)
    seen = torch.unique(train_users * ds.n_items + train_pos)  # sorted keys of training pairs
    train_inputs = torch.full((len(u), 1), ds.n_items, dtype=torch.long)  # empty histories: users have their own vectors

# ---- model
rep = reps.build(METHOD, reps.RepContext(ds, split, DIM, device, {"item_emb": ITEM_EMB, "user_emb": USER_EMB},
                                           backbone="BiasMF"))
model = BiasMF(rep, ds.n_items, fold_in_history=SETTING == "coldstart").to(device)
optimizer = torch.optim.Adam(model.parameters(), lr=LR)
log = wandb_run(WANDB, "pte-rec", config)


def negatives(users: torch.Tensor) -> torch.Tensor:
    """[B, n_negatives] uniform items; in longtail redrawn (a few rounds) where the user trained on them."""
    neg = torch.randint(ds.n_items, (len(users), n_negatives))
    for _ in range(NEG_RETRIES if SETTING == "longtail" else 0):
        keys = users[:, None] * ds.n_items + neg
        hit = seen[torch.searchsorted(seen, keys).clamp(max=len(seen) - 1)] == keys
        if not hit.any():
            break
        neg[hit] = torch.randint(ds.n_items, (int(hit.sum()),))
    return neg


def loss(idx: torch.Tensor) -> torch.Tensor:
    users, inputs, pos = train_users[idx].to(device), train_inputs[idx].to(device), train_pos[idx].to(device)
    if LOSS == "softmax":
        shared = None if full_softmax else torch.randperm(ds.n_items, device=device)[:n_negatives]
        return model.softmax_loss(users, inputs, pos, REG, shared)
    return model.bpr_loss(users, inputs, pos, negatives(train_users[idx]).to(device), REG)


def train_batches():
    """Shuffled batches; for the full softmax in longtail, a user's interactions share a batch so
    their score row is computed once (same loss per epoch, ~100x less scoring)."""
    if full_softmax and SETTING == "longtail":
        return grouped_batches(train_users, BATCH_SIZE)
    return batches(len(train_pos), BATCH_SIZE)


def train_epoch(epoch: int) -> float:
    return descend(optimizer, (loss(idx) for idx in train_batches()), MAX_STEPS)


def score(rows) -> torch.Tensor:
    users = torch.as_tensor(rows.users, dtype=torch.long, device=device)
    return model.score(users, as_tensor(rows.inputs, ds.n_items, device))


# ---- train, select on validation, test once
sel = fit(model, train_epoch, score, split, mode, EPOCHS, PATIENCE, EVAL_EVERY, log,
          Checkpoint.of(config, "BiasMF", optimizer) if RESUME else None)
finish(score=score, ds=ds, split=split, sel=sel, config=config, backbone="BiasMF", method=METHOD, rep=rep)
