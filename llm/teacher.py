"""Teacher profiles: the targets the student LLM learns from (sft_base, sft_base_mask, sft_base_item).

    python llm/teacher.py                                    # bundled SmolLM2, 256 users + 256 items
    python llm/teacher.py --n_users 0 --n_items 0            # every user and item of the setting
    OPENAI_API_KEY=... python llm/teacher.py --backend openai --teacher_model gpt-4o-mini --n_users 0 --n_items 0
    OPENAI_BASE_URL=http://localhost:8000/v1 python llm/teacher.py --backend openai --teacher_model <served name>
    accelerate launch llm/teacher.py --backend hf            # one shard of the jobs per process

Writes outputs/<data>/<setting>/teacher/{users,items}.jsonl (resumable: a killed run
restarts where it stopped). Prompts see only the setting's training interactions. Facts and
collaborative fields are computed from them; the model writes the users' interests (a local
model is not trusted with item descriptions, which are computed too: pte/llm/teacher.py).
"""
import time

from pte.config import apply_overrides
from pte.data import load_dataset
from pte.llm import prompts as P
from pte.llm.data import LLM_SETTINGS, N_CO_CHOSEN, RECENT_ITEMS, sample_ids, train_view
from pte.llm.generate import GenSettings, hf_backend, signature
from pte.llm.model import BUNDLED, load_model, load_tokenizer, model_path
from pte.llm.profiles import produce, write_final
from pte.pipeline import teacher_path
from pte.llm.teacher import computed_item, item_job, openai_backend, teacher_post, user_job
from pte.llm.train import setup

DATA = "ml-100k"
SETTING = "both"           # training interactions: both = those both settings train on (one set of
                            # adapters serves coldstart and longtail) | longtail | coldstart
BACKEND = "hf"              # hf (a local model) | openai (any OpenAI-compatible endpoint)
TEACHER_MODEL = BUNDLED     # hf: a HF path/name ("smollm2" = bundled); openai: the served model name
BASE_URL = ""               # openai: default $OPENAI_BASE_URL, else api.openai.com (key: $OPENAI_API_KEY)
WORKERS = 8                 # openai: concurrent requests
N_USERS = 256               # users to profile (seeded sample of training users); 0 = all
N_ITEMS = 256               # items to profile (seeded sample of items with training interactions); 0 = all
MAX_ITEMS = 8               # recent training items shown per user
N_CHOOSERS = 4              # users described per item
MAX_NEW_TOKENS = 24         # hf: a user's interests only (an openai teacher writes whole lines: raise it)
BATCH_SIZE = 32
SEED = 0
THREADS = 0                 # CPU torch threads (0 = all cores)
FORCE = False               # discard earlier teacher rows and start over
config = apply_overrides(globals(), choices={"BACKEND": ("hf", "openai"),
                                             "SETTING": LLM_SETTINGS})
setup(SEED, THREADS)

# ---- data: who gets a teacher profile (training users; items with training interactions)
ds = load_dataset(DATA)
view = train_view(ds, SETTING)
users = sample_ids(view.train_users, N_USERS, SEED)
items = sample_ids(view.train_items, N_ITEMS, SEED + 1)

# ---- backend
settings = GenSettings(max_new_tokens=MAX_NEW_TOKENS, batch_size=BATCH_SIZE, seed=SEED)
if BACKEND == "hf":
    tokenizer = load_tokenizer(TEACHER_MODEL)
    backend = hf_backend(load_model(TEACHER_MODEL), tokenizer)
    model_id = model_path(TEACHER_MODEL)
else:
    tokenizer, backend, model_id = None, openai_backend(TEACHER_MODEL, BASE_URL or None, workers=WORKERS), TEACHER_MODEL
meta = {"model": model_id, "backend": BACKEND, "gen": settings.to_dict(), "prompt_version": P.PROMPT_VERSION}
sig = signature(**meta, setting=SETTING, max_items=MAX_ITEMS, n_choosers=N_CHOOSERS, recent_items=RECENT_ITEMS)
co_chosen = view.item_neighbours(items, N_CO_CHOSEN)

# ---- generate, resumably, and write the final files
for kind, ids, make in (("user", users, lambda u: user_job(view, int(u), tokenizer, BACKEND, MAX_ITEMS)),
                        ("item", items, lambda i: item_job(view, int(i), co_chosen[int(i)], tokenizer, BACKEND,
                                                          N_CHOOSERS, SEED))):
    t0 = time.perf_counter()
    final = teacher_path(DATA, SETTING, kind)
    if kind == "item" and BACKEND == "hf":  # a local teacher computes item profiles (pte/llm/teacher.py)
        rows = {int(i): {**computed_item(view, int(i), co_chosen[int(i)], N_CHOOSERS, SEED), **meta, "signature": sig}
                for i in ids}
    else:
        rows = produce([make(i) for i in ids], final, settings, sig=sig, backend=backend, tokenizer=tokenizer,
                       validate=lambda t, k=kind: P.check_profile(t, k), postprocess=teacher_post,
                       row_meta=meta, force=FORCE, desc=f"teacher {kind}s")
    if rows is None:  # not the main process
        continue
    write_final(final, rows)
    bad = [r for r in rows.values() if not r["valid"]]
    print(f"teacher {kind}s: {len(rows) - len(bad)} valid, {len(bad)} invalid (skipped in training) "
          f"-> {final} [{time.perf_counter() - t0:.0f} s]")
    for r in list(rows.values())[:2]:
        print("   ", r["text"])
