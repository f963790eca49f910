"""The shipped profile texts -> the profile and embedding files the inference scripts write, with no LLM.

    python llm/restore_profiles.py                  # ml-100k: item profiles (both) + longtail user profiles
    python reproduce.py --profiles shipped          # the same, then alignment, backbones and tables

results/<data>_profiles/ holds the profile texts behind the published rows (written by
bench/bench_profiles.py --ship true). This encodes them with the inference scripts' encoder and
fallbacks into outputs/<data>/both/{profiles,embeddings}/item_profile.* and
outputs/<data>/longtail/{profiles,embeddings}/user_profile.*, so llm/align.py and every backbone
run on the published profiles in minutes, on any CPU, without the Profile stage (about two hours
on CPUs without native bf16: RESULTS.md, "The main job"). The sidecars name the shipped file and
its hash. Profiles already there from another source are kept unless --force. A dataset whose
folder ships only some of them (Beauty: the item profiles, and user profiles of a 200-user sample that
only the ladder reads) gets those, and a note for the rest.
"""

from pte import pipeline
from pte.config import apply_overrides
from pte.data import load_dataset
from pte.io import read_json
from pte.llm.generate import file_digest
from pte.llm.profiles import EMBEDS, RESTORABLE, IncompleteProfiles, ProfileError, restore_shipped

DATA = "ml-100k"
TAG = "main"                # whose texts: results/<data>_profiles/ (main) or results/<data>_profiles_<tag>/
ENCODER = "minilm"          # as the inference scripts
EMBED = "profile"           # what is encoded: profile (the whole line) | facts (without the model's sentence) | sentence (it alone)
FORCE = False               # overwrite profiles that came from elsewhere (e.g. generated here)
config = apply_overrides(globals(), choices={"EMBED": EMBEDS})

ds = load_dataset(DATA)
sources = {name: pipeline.shipped_copy(DATA, pipeline.profile_path(DATA, setting, name), TAG)
           for setting, name, _ in RESTORABLE}
for setting, name, kind in RESTORABLE:
    source = sources[name]
    if not source.exists() and any(p.exists() for p in sources.values()):   # e.g. Beauty ships item profiles only
        hint = " (the longtail aligner runs without them: llm/align.py --user_emb none)" if kind == "user" else ""
        print(f"{name}: not shipped for {DATA} ({source}), skipped; what reads {kind} profiles needs the Profile "
              f"stage's {kind} side{hint}")
        continue
    emb = pipeline.embedding_path(DATA, setting, name)
    made = read_json(emb.with_suffix(".json")) if pipeline.artifact_done(emb) else None
    if made is not None and not FORCE and source.exists() and made.get("source_digest") == file_digest(source) \
            and made.get("embed") == EMBED:
        print(f"{name}: {emb} is restored from {source} already, skipped")
        continue
    if made is not None and not FORCE and made.get("restored_from") != source.name:
        raise SystemExit(f"error: {emb} is there already, made from {made.get('source', 'elsewhere')}, not from "
                         f"{source}; pass --force true to replace it, or set PTE_OUTPUTS to another folder "
                         f"(reproduce.py --profiles shipped uses outputs/shipped/)")
    try:
        restore_shipped(ds, data=DATA, setting=setting, name=name, kind=kind, source=source, encoder=ENCODER,
                        embed=EMBED)
    except IncompleteProfiles as e:   # user profiles of a sample of users (Beauty's ladder): only the ladder reads them
        if kind != "user":
            raise SystemExit(f"error: {e}")
        print(f"{name}: skipped, {source} covers a sample of the users, not all ({e.missing} with training "
              f"interactions have none). What reads user profiles needs the Profile stage's user side (the "
              f"longtail aligner runs without them: llm/align.py --user_emb none); bench/bench_profiles.py "
              f"--shipped true reads the sample")
    except ProfileError as e:   # missing or another dataset's texts: say which file and what to do
        raise SystemExit(f"error: {e}")
