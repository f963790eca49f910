"""Personalized embedding stage: make profile embeddings task-aligned (pte/align.py).

    python llm/align.py --data ml-100k --setting longtail
    python llm/align.py --data ml-100k --setting coldstart --item_emb data/ml-100k/item_text.npy
    python llm/align.py --data ml-1m --negatives 1024    # large catalogs: InfoNCE over sampled candidates

Reads the item (and, in longtail, user) profile embeddings, trains the contrastive aligner on
the setting's training interactions, keeps the epoch with the best validation retrieval
NDCG@10, and writes <name>_aligned.npy (+ sidecars) for the setting into
outputs/<data>/<setting>/embeddings/, which `--method pte` reads (paths: pte.pipeline).
"""
from pathlib import Path

import torch

from pte.align import Aligner, aligned_vectors, fit_aligner
from pte.config import apply_overrides
from pte.embeddings import embedding_meta, load_embeddings, save_embeddings
from pte.experiment import load_data, seed_everything
from pte.io import run_signature
from pte.pipeline import aligned_name, artifact_path, embedding_path
from pte.splits import SETTINGS, hold_out_last

DATA = "ml-100k"
SETTING = "longtail"     # coldstart | longtail
ITEM_EMB = ""            # default: the item profiles (outputs/<data>/both/embeddings/item_profile.npy)
USER_EMB = ""            # default: the setting's user profiles when they exist; "none": no user side
EPOCHS = 20
PATIENCE = 3
LR = 1e-3
TAU = 0.07               # InfoNCE temperature
HIDDEN = 512
DROPOUT = 0.1
BATCH_SIZE = 512
NEGATIVES = 0            # 0: softmax over every item (the ml-100k recipe); K: the batch's targets + K uniform draws,
                         # so an epoch's cost grows with interactions only (large catalogs: bench_scaling)
SEED = 0                 # the Profile-stage seed (reproduce.py --llm_seed)
SELECT = "valid"         # the epoch is kept on: valid (the setting's validation targets) | train_last (each
                         # training user's last training item, held out; the backbones' validation stays unseen)

config = apply_overrides(globals(), choices={"SETTING": SETTINGS, "SELECT": ("valid", "train_last")})
seed_everything(SEED)
torch.set_num_threads(max(1, torch.get_num_threads()))

# ---- data: the files it reads, checked against the setting
ds, split = load_data(DATA, SETTING)
item_path = Path(ITEM_EMB) if ITEM_EMB else artifact_path(DATA, "item_profile", SETTING)
user_path = None if USER_EMB == "none" else Path(USER_EMB) if USER_EMB else artifact_path(DATA, "user_profile", SETTING)
if user_path is not None and not user_path.exists():
    if USER_EMB:
        raise SystemExit(f"error: --user_emb {user_path} not found")
    user_path = None  # no user profiles in this setting: align the item side only
E = load_embeddings(item_path, ds, "item", setting=SETTING)
U = load_embeddings(user_path, ds, "user", setting=SETTING) if user_path else None
print(f"read {item_path} ({E.shape[0]} x {E.shape[1]})" + (f" and {user_path}" if user_path else
                                                           " (no user profiles)") + f"; aligning on {ds.name}/{SETTING}")

# ---- model and training, the epoch chosen on retrieval of SELECT's targets
model = Aligner(E, U, HIDDEN, DROPOUT)
item_out = embedding_path(DATA, SETTING, aligned_name(item_path.stem))
checkpoint = item_out.with_suffix(".checkpoint.pt")   # a killed run continues from its last epoch
fit_split = hold_out_last(split) if SELECT == "train_last" else split
fit = fit_aligner(model, fit_split, EPOCHS, LR, TAU, BATCH_SIZE, PATIENCE, seed=SEED, negatives=NEGATIVES,
                  checkpoint=checkpoint, signature=run_signature(config, E, U))

# ---- save
items, users = aligned_vectors(model, split)
common = {"setting": SETTING, "aligned_from": str(item_path), "align_config": config,
          "valid_ndcg10_before": fit["before"], "valid_ndcg10_after": fit["best"], "best_epoch": fit["best_epoch"],
          "history": fit["history"]}
save_embeddings(item_out, items, ds.item_raw, kind="item", data=ds.name,
                encoder=embedding_meta(item_path).get("encoder", "?") + "+aligned", **common)
print(f"wrote {item_out}")
# without user profiles the user queries come from the history over this item table, so they are named
# after it: aligning another table (e.g. item_text) must not overwrite the profiles' queries
user_out = embedding_path(DATA, SETTING, aligned_name(user_path.stem if user_path else f"{item_path.stem}_user_history"))
zero = int((~users.any(1)).sum())
save_embeddings(user_out, users, ds.user_raw, kind="user", data=ds.name, encoder="aligner", fallback="zeros",
                fallback_rows=zero, **common)
print(f"wrote {user_out} ({zero} users without training history or profile have zero rows)")
checkpoint.unlink(missing_ok=True)
