"""Item profiles from the item-side adapter (d) -> item_profile.{jsonl,npy}.

    cd llm/lora && python inference_base_item.py
    python llm/lora/inference_base_item.py --setting coldstart
    python llm/lora/inference_base_item.py --backend vllm --batch_size 1024    # GPUs, millions of items
    accelerate launch llm/lora/inference_base_item.py                          # one shard per process

Prompt: the item's record (its text, who chose it in the setting's training interactions,
the items most often chosen with it); the model continues after the profile's facts. Every
item gets a profile, including items nobody chose in training (their text alone). Writes
outputs/<data>/<setting>/profiles/item_profile.jsonl and embeddings/item_profile.npy.
"""
from pte.config import apply_overrides
from pte.data import load_dataset
from pte.llm.data import LLM_SETTINGS, N_CO_CHOSEN, item_record, load_bank, sample_ids, train_view
from pte.llm.generate import GenSettings
from pte.llm.inference import BACKENDS, run_inference
from pte.llm.model import BUNDLED, read_stage
from pte.llm.profiles import EMBEDS, FALLBACKS, require_adapter
from pte.pipeline import profile_path
from pte.llm.train import setup

DATA = "ml-100k"
SETTING = "both"           # training interactions: both = those both settings train on (one set of
                            # adapters serves coldstart and longtail) | longtail | coldstart
MODEL = BUNDLED
ADAPTER = "sft_base_item"   # a stage name, a folder, or "none"
ENCODER = "minilm"
EMBED = "profile"           # what is encoded: profile (the whole line) | facts (without the model's sentence) | sentence (it alone)
N_CHOOSERS = 4              # users described per item
MAX_NEW_TOKENS = 32         # after the facts: the words and the picked numbers (~20 tokens)
BATCH_SIZE = 64
DO_SAMPLE = False
NO_REPEAT_NGRAM = 0         # > 0 blocks repeated n-grams; titles repeat "(1995);" patterns, so off
BACKEND = "hf"
DTYPE = "auto"
LOAD_IN_4BIT = False
FALLBACK = "text"           # failed generations (counted in the sidecar): text (the item's own text) |
                            # zeros | "" (an error)
LIMIT = 0                   # > 0: generate this many (seeded sample), the rest get their item text (quick runs)
FORCE = False
SEED = 0
THREADS = 0                 # CPU torch threads (0 = all cores)
NAME = "item_profile"
config = apply_overrides(globals(), choices={"SETTING": LLM_SETTINGS, "BACKEND": BACKENDS,
                                             "FALLBACK": FALLBACKS, "EMBED": EMBEDS})
setup(SEED, THREADS)

ds = load_dataset(DATA)
view = train_view(ds, SETTING)
adapter = require_adapter(DATA, SETTING, ADAPTER, "llm/lora/sft_base_item.py")
chooser_notes = None
if adapter is not None and read_stage(adapter).get("user_notes"):  # bidirectional: user profiles annotate choosers
    p = profile_path(DATA, SETTING, "user_profile_kd")
    if not p.exists():
        raise SystemExit(f"error: {adapter.name} was trained with user-profile notes; run inference_base.py first")
    chooser_notes = load_bank(p)
items = sorted(sample_ids(list(range(ds.n_items)), LIMIT, SEED).tolist()) if LIMIT else list(range(ds.n_items))
skipped = {i: "not generated (--limit)" for i in sorted(set(range(ds.n_items)) - set(items))}
co_chosen = view.item_neighbours(items, N_CO_CHOSEN)
records = {i: item_record(view, i, co_chosen[i], N_CHOOSERS, chooser_notes, SEED) for i in items}

run_inference(ds=ds, data=DATA, setting=SETTING, kind="item", name=NAME, records=records, model_name=MODEL,
              adapter=adapter, settings=GenSettings(MAX_NEW_TOKENS, BATCH_SIZE, DO_SAMPLE, no_repeat_ngram=NO_REPEAT_NGRAM,
                                                    seed=SEED),
              encoder=ENCODER, embed=EMBED, fallback=FALLBACK, skipped=skipped, skipped_fill="text", force=FORCE,
              backend=BACKEND, load_in_4bit=LOAD_IN_4BIT,
              dtype=DTYPE, prompt_options={"n_choosers": N_CHOOSERS, "n_co_chosen": N_CO_CHOSEN,
                                           "chooser_notes": chooser_notes is not None})
