"""User profiles from the knowledge-distillation adapter (a) -> user_profile_kd.{jsonl,npy}.

    cd llm/lora && python inference_base.py
    python llm/lora/inference_base.py --setting coldstart
    python llm/lora/inference_base.py --backend vllm --batch_size 1024         # GPUs, millions of users
    accelerate launch llm/lora/inference_base.py                               # one shard per process

Prompt: (a)'s, the user's record (attributes, genres, last training items, the items most
often chosen together with the last two of them; longtail: all but the last two items;
coldstart: training users only); the model continues after the profile's facts. Writes
outputs/<data>/<setting>/profiles/user_profile_kd.jsonl and
embeddings/user_profile_kd.npy (+ .json sidecar). Resumable: re-run after a kill.
"""
from pte.config import apply_overrides
from pte.data import load_dataset
from pte.llm.data import LLM_SETTINGS, RECENT_ITEMS, sample_ids, train_view, user_record
from pte.llm.generate import GenSettings
from pte.llm.inference import BACKENDS, run_inference
from pte.llm.model import BUNDLED
from pte.llm.profiles import EMBEDS, FALLBACKS, require_adapter
from pte.llm.train import setup

DATA = "ml-100k"
SETTING = "longtail"        # whose training interactions the prompts show; profiles are per setting
ADAPTER_SETTING = "both"   # where the adapters were trained (the training scripts' --setting)
MODEL = BUNDLED
ADAPTER = "sft_base"        # a stage name under adapters/, a folder, or "none" (the base model)
ENCODER = "minilm"          # any sentence-transformers path
EMBED = "profile"           # what is encoded: profile (the whole line) | facts (without the model's sentence) | sentence (it alone)
MAX_ITEMS = 8               # recent training items in the prompt (as in training)
MAX_NEW_TOKENS = 32         # after the facts: the words and the picked numbers (~20 tokens)
BATCH_SIZE = 64
DO_SAMPLE = False
NO_REPEAT_NGRAM = 0         # > 0 blocks repeated n-grams; titles repeat "(1995);" patterns, so off
BACKEND = "hf"              # hf | vllm
DTYPE = "auto"              # auto (bf16 on GPUs and bf16-capable CPUs, else fp32) | bfloat16 | float32
LOAD_IN_4BIT = False
COLD_USERS = "zeros"        # coldstart users without training items: zeros | text (attributes) | generate
FALLBACK = "text"           # failed generations (counted in the sidecar): text (the user's attributes) |
                            # zeros | "" (an error)
LIMIT = 0                   # > 0: generate this many (seeded sample), the rest get their attribute text (quick runs)
FORCE = False               # discard earlier rows and regenerate
SEED = 0
THREADS = 0                 # CPU torch threads (0 = all cores)
NAME = "user_profile_kd"
config = apply_overrides(globals(), choices={"SETTING": LLM_SETTINGS, "BACKEND": BACKENDS,
                                             "FALLBACK": FALLBACKS, "EMBED": EMBEDS, "COLD_USERS": ("zeros", "text", "generate")})
setup(SEED, THREADS)

ds = load_dataset(DATA)
view = train_view(ds, SETTING)
adapter = require_adapter(DATA, ADAPTER_SETTING, ADAPTER, "llm/lora/sft_base.py")
has_items = set(view.train_users.tolist())
cold = [u for u in range(ds.n_users) if u not in has_items]
users = sorted(has_items | (set(cold) if COLD_USERS == "generate" else set()))
limited = set(users) - set(sample_ids(users, LIMIT, SEED).tolist()) if LIMIT else set()
users = [u for u in users if u not in limited]
records = {u: user_record(view, u, max_items=MAX_ITEMS) for u in users}
skipped = {} if COLD_USERS == "generate" else {u: "no training interactions (cold user)" for u in cold}
skipped |= {u: "not generated (--limit)" for u in limited}

run_inference(ds=ds, data=DATA, setting=SETTING, kind="user", name=NAME, records=records, model_name=MODEL,
              adapter=adapter, settings=GenSettings(MAX_NEW_TOKENS, BATCH_SIZE, DO_SAMPLE, no_repeat_ngram=NO_REPEAT_NGRAM,
                                                    seed=SEED),
              encoder=ENCODER, embed=EMBED, fallback=FALLBACK, skipped=skipped,
              skipped_fill="text" if COLD_USERS == "text" or LIMIT else "zeros", force=FORCE, backend=BACKEND,
              load_in_4bit=LOAD_IN_4BIT, dtype=DTYPE,
              prompt_options={"max_items": MAX_ITEMS, "recent_items": RECENT_ITEMS})
