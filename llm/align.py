"""Personalized embedding stage: make profile embeddings task-aligned (pte/align.py).

    python llm/align.py --data ml-100k --setting longtail
    python llm/align.py --data ml-100k --setting coldstart --item_emb data/ml-100k/item_text.npy

Reads the item (and, if present, user) profile embeddings of the setting, trains the
contrastive aligner on that setting's training interactions, keeps the epoch with the best
validation retrieval NDCG@10, and writes <name>_aligned.npy (+ sidecars) beside them in
outputs/<data>/<setting>/embeddings/, which `--method pte` (PTE_VARIANT=aligned) reads.
"""
import copy
from pathlib import Path

import torch

from pte.align import Aligner, aligned_vectors, fit_aligner, retrieval_metrics
from pte.config import apply_overrides
from pte.embeddings import embedding_meta, load_embeddings, save_embeddings
from pte.experiment import load_data, seed_everything
from pte.paths import embeddings_dir
from pte.splits import SETTINGS

DATA = "ml-100k"
SETTING = "longtail"     # coldstart | longtail
ITEM_EMB = ""            # default: outputs/<data>/<setting>/embeddings/item_profile.npy
USER_EMB = ""            # default: user_profile.npy there when it exists; "none": no user side
EPOCHS = 20
PATIENCE = 3
LR = 1e-3
TAU = 0.07               # InfoNCE temperature
HIDDEN = 512
DROPOUT = 0.1
BATCH_SIZE = 512
SEED = 2024

config = apply_overrides(globals(), choices={"SETTING": SETTINGS})
seed_everything(SEED)
torch.set_num_threads(max(1, torch.get_num_threads()))

# ---- data
ds, split = load_data(DATA, SETTING)
out_dir = embeddings_dir(ds.name, SETTING)
item_path = Path(ITEM_EMB) if ITEM_EMB else out_dir / "item_profile.npy"
user_path = None if USER_EMB == "none" else Path(USER_EMB) if USER_EMB else out_dir / "user_profile.npy"
if user_path is not None and not user_path.exists():
    if USER_EMB:
        raise SystemExit(f"error: --user_emb {user_path} not found")
    user_path = None  # no user profiles yet: align the item side only
E = load_embeddings(item_path, ds, "item")
U = load_embeddings(user_path, ds, "user") if user_path else None
print(f"aligning {item_path.name} ({E.shape[0]} x {E.shape[1]})"
      + (f" with {user_path.name}" if user_path else " (no user profiles)") + f" on {ds.name}/{SETTING}")

# ---- model and training, selecting the epoch on validation retrieval
model = Aligner(E, U, HIDDEN, DROPOUT)
before = retrieval_metrics(model, split.valid)
print(f"  valid retrieval before: NDCG@10 {before['NDCG@10']:.4f}  HR@10 {before['HR@10']:.4f}")
best, best_state, best_epoch = before["NDCG@10"], copy.deepcopy(model.state_dict()), 0
for epoch in range(1, EPOCHS + 1):
    fit_aligner(model, split, 1, LR, TAU, BATCH_SIZE, seed=SEED + epoch)
    m = retrieval_metrics(model, split.valid)
    print(f"  epoch {epoch}: valid NDCG@10 {m['NDCG@10']:.4f}  HR@10 {m['HR@10']:.4f}")
    if m["NDCG@10"] > best:
        best, best_state, best_epoch = m["NDCG@10"], copy.deepcopy(model.state_dict()), epoch
    elif epoch - best_epoch >= PATIENCE:
        break
model.load_state_dict(best_state)
print(f"  kept epoch {best_epoch}: valid NDCG@10 {best:.4f} (before {before['NDCG@10']:.4f})")

# ---- save
items, users = aligned_vectors(model, split)
common = {"setting": SETTING, "aligned_from": str(item_path), "align_config": config,
          "valid_ndcg10_before": before["NDCG@10"], "valid_ndcg10_after": best, "best_epoch": best_epoch}
item_out = out_dir / f"{item_path.stem}_aligned.npy"
save_embeddings(item_out, items, ds.item_raw, kind="item", data=ds.name,
                encoder=embedding_meta(item_path).get("encoder", "?") + "+aligned", **common)
print(f"wrote {item_out}")
user_stem = user_path.stem if user_path else "user_history"
user_out = out_dir / f"{user_stem}_aligned.npy"
zero = [ds.user_raw[u] for u in range(ds.n_users) if not users[u].any()]
save_embeddings(user_out, users, ds.user_raw, kind="user", data=ds.name, encoder="aligner", fallback="zeros",
                fallback_rows=len(zero), **common)
print(f"wrote {user_out} ({len(zero)} users without training history or profile have zero rows)")
