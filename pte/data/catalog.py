"""The paper's datasets: names, inputs, filtering, and what ``data/prepare.py --raw`` does with them.

``--data`` names the dataset (its folder under data/, its filtering, its longtail thresholds);
``--raw`` is the input; ``--format`` says what the input is (``auto`` sniffs it):

  amazon     Amazon reviews 2014/2018/2023 review file (+ ``--meta`` meta_<Category>, found beside it)
  yelp       yelp_academic_dataset_review.json (+ business.json beside it), or their folder
  llmesr     LLM-ESR's processed <name>/handled/ folder or its inter.txt (+ embedding pickles)
  alphafuse  AlphaFuse/DreamRec's folder of train/val/test_data.df + data_statis.df (+ *_emb.pickle)
  sequences  a folder of ordered sequences without timestamps (user_sequence.txt + titles; pte.data.sequences)

Raw formats are filtered as the dataset's setting prescribes (``--filter`` overrides; names
outside the catalog must give one); the authors' processed files are taken as they are.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from pte.data.atomic import DataError
from pte.data.filters import FILTERS, FilterSpec

FORMATS = ("auto", "amazon", "yelp", "llmesr", "alphafuse", "sequences")
IMPORT_FORMATS = ("llmesr", "alphafuse", "sequences")   # taken as they are: no --filter
AMAZON_2018 = "https://nijianmo.github.io/amazon/index.html"
AMAZON_2014 = "https://jmcauley.ucsd.edu/data/amazon/index_2014.html"
AMAZON_2023 = "https://amazon-reviews-2023.github.io/"


@dataclass(frozen=True)
class Recipe:
    name: str                # folder under data/; LLM-ESR thresholds are looked up by it
    source: str              # amazon | yelp | sequences
    setting: str             # the paper's setting for this dataset (coldstart | longtail)
    filter: str              # key of pte.data.filters.FILTERS
    files: str               # what to download, from where
    aliases: tuple[str, ...] = ()
    published: dict = field(default_factory=dict)   # figures the setting's paper reports (None: unknown)


_UNKNOWN = {"users": None, "items": None, "interactions": None}
RECIPES = (
    Recipe("movies", "amazon", "coldstart", "5core",
           f"Amazon 2018 'Movies_and_TV' reviews (5-core or full) + meta_Movies_and_TV.json.gz: {AMAZON_2018}",
           ("movies_and_tv", "movies_tv"), {"source": "AlphaFuse (SIGIR'25)", **_UNKNOWN}),
    Recipe("toys", "amazon", "coldstart", "5core",
           f"Amazon 2018 'Toys_and_Games' reviews + meta_Toys_and_Games.json.gz: {AMAZON_2018}",
           ("toys_and_games",), {"source": "AlphaFuse (SIGIR'25)", **_UNKNOWN}),
    Recipe("sports", "amazon", "coldstart", "5core",
           f"Amazon 2018 'Sports_and_Outdoors' reviews + meta_Sports_and_Outdoors.json.gz: {AMAZON_2018}",
           ("sports_and_outdoors",), {"source": "AlphaFuse (SIGIR'25)", **_UNKNOWN}),
    Recipe("beauty", "amazon", "longtail", "llmesr",
           f"Amazon 2014 'Beauty' reviews (reviews_Beauty.json.gz) + meta_Beauty.json.gz: {AMAZON_2014}",
           ("all_beauty",), {"source": "LLM-ESR (NeurIPS'24)", **_UNKNOWN}),
    Recipe("beauty-5core", "sequences", "longtail", "none",
           "the Amazon Beauty 5-core sequences with titles (user_sequence.txt, item_id_to_int.json, "
           "products_lookup.csv), e.g. ../shared/data/amazon-beauty",
           ("beauty_5core",), {"source": "S3-Rec (CIKM'20)", "users": 22_363, "items": 12_101,
                               "interactions": 198_502}),
    Recipe("fashion", "amazon", "longtail", "llmesr",
           f"Amazon 2018 'AMAZON_FASHION' reviews + meta_AMAZON_FASHION.json.gz: {AMAZON_2018}",
           ("amazon_fashion",), {"source": "LLM-ESR (NeurIPS'24)", **_UNKNOWN}),
    Recipe("yelp", "yelp", "longtail", "llmesr",
           "Yelp Open Dataset (yelp_academic_dataset_review.json + _business.json): https://www.yelp.com/dataset",
           (), {"source": "LLM-ESR (NeurIPS'24)", **_UNKNOWN}),
)


def normalize(name: str) -> str:
    """'Movies & TV' / 'Movies_and_TV' -> 'movies_and_tv'."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower().replace("&", " and ")).strip("_")


def lookup(name: str) -> Recipe | None:
    key = normalize(name)
    return next((r for r in RECIPES if key == r.name or key in r.aliases), None)


@dataclass
class Source:
    """A resolved ``--data/--raw`` request: everything needed to build it and to tell if it is stale."""
    name: str
    fmt: str
    raw: Path
    meta: Path | None = None
    spec: FilterSpec | None = None
    trust_pickle: bool = False
    recipe: Recipe | None = None

    @property
    def files(self) -> list[Path]:
        """The input files whose size and time decide staleness."""
        if self.fmt == "alphafuse":
            from pte.data.imports import alphafuse_folder
            folder = alphafuse_folder(self.raw)
            return sorted([*folder.glob("*.df"), *folder.glob("*_emb.pickle")])
        if self.fmt == "sequences":
            from pte.data.sequences import sequence_files
            return sequence_files(self.raw)
        if self.fmt == "llmesr":
            from pte.data.imports import llmesr_folder
            folder = llmesr_folder(self.raw)
            return sorted(p for p in folder.iterdir() if p.suffix in (".txt", ".pkl", ".json"))
        return [self.raw] + ([self.meta] if self.meta else [])

    def params(self) -> str:
        """The settings that change the output besides the files (hashed into the staleness stamp)."""
        return f"{self.fmt}|{self.spec}|{self.trust_pickle}"

    def build(self, progress: bool = True):
        """An :class:`~pte.data.imports.Imported` (dataset, splits from the files, vectors to store)."""
        from pte.splits import KNOWN_THRESHOLDS
        imp = self._read(progress)
        if self.recipe:
            imp.thresholds = KNOWN_THRESHOLDS.get(self.recipe.name)
            imp.dataset.meta.update(paper_dataset=self.recipe.name, paper_setting=self.recipe.setting,
                                    published=self.recipe.published)
        return imp

    def _read(self, progress: bool):
        from pte.data.imports import Imported, read_alphafuse, read_llmesr
        if self.fmt == "llmesr":
            return read_llmesr(self.raw, self.name, self.trust_pickle, progress)
        if self.fmt == "alphafuse":
            return read_alphafuse(self.raw, self.name, self.trust_pickle, progress)
        if self.fmt == "sequences":
            from pte.data.sequences import load_sequences
            return Imported(load_sequences(self.name, self.raw))
        if self.fmt == "amazon":
            from pte.data.amazon import load_amazon
            return Imported(load_amazon(self.name, self.raw, self.meta, self.spec, progress))
        from pte.data.yelp import load_yelp
        return Imported(load_yelp(self.name, self.raw, self.meta, self.spec, progress))


def sniff(raw: Path) -> str:
    """The format of ``raw`` from its file names and first line."""
    from pte.data import amazon, yelp
    from pte.data.imports import ALPHAFUSE_STATS
    folder = raw if raw.is_dir() else raw.parent
    if (folder / ALPHAFUSE_STATS).exists() and (raw.is_dir() or raw.suffix in (".df", ".pickle")):
        return "alphafuse"
    if raw.is_dir():
        from pte.data.sequences import is_sequence_folder
        if is_sequence_folder(raw):
            return "sequences"
        if (raw / "inter.txt").exists() or (raw / "handled" / "inter.txt").exists():
            return "llmesr"
        if (raw / yelp.REVIEWS).exists():
            return "yelp"
        raise DataError(f"{raw}: cannot tell the format of this folder; pass --format {'|'.join(FORMATS[1:])}")
    if raw.suffix == ".txt":
        return "llmesr"
    from pte.data.rawio import first_record
    rec = first_record(raw)
    if amazon.is_amazon_review(rec):
        return "amazon"
    if yelp.is_yelp_review(rec):
        return "yelp"
    raise DataError(f"{raw}:1: neither an Amazon nor a Yelp review line (fields: {', '.join(sorted(rec))[:200]}); "
                    f"pass --format")


def resolve(data: str, raw: str, meta: str = "", fmt: str = "auto", filter: str = "", dedup: str = "auto",
            trust_pickle: bool = False) -> Source:
    """Check a ``--data/--raw`` request and return what to build; errors say what to pass instead."""
    recipe = lookup(data)
    name = recipe.name if recipe else data
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise DataError(f"--data {data!r}: with --raw, --data is a dataset name (letters, digits, . _ -), "
                        f"used as the folder data/<name>")
    if not raw:
        hint = recipe.files if recipe else "the raw files"
        raise DataError(f"--data {name} needs --raw: {hint}. See data/README.md")
    path = Path(raw).expanduser()
    if not path.exists():
        raise DataError(f"--raw {raw}: not found")
    fmt = sniff(path) if fmt == "auto" else fmt
    if fmt not in FORMATS[1:]:
        raise DataError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if fmt in IMPORT_FORMATS:
        if filter not in ("", "none") or dedup != "auto":
            raise DataError(f"--filter/--dedup do not apply to {fmt} files: the authors' files are already filtered")
        return Source(name, fmt, path, trust_pickle=trust_pickle, recipe=recipe)
    return Source(name, fmt, *_raw_inputs(fmt, path, meta), spec=_filter_spec(recipe, name, filter, dedup),
                  recipe=recipe)


def _raw_inputs(fmt: str, path: Path, meta: str) -> tuple[Path, Path | None]:
    """(review file, metadata file or None) for a raw format."""
    from pte.data import amazon, yelp
    if fmt == "yelp" and path.is_dir():
        path = path / yelp.REVIEWS
    if meta == "none":
        return path, None
    if meta:
        if not Path(meta).exists():
            raise DataError(f"--meta {meta}: not found")
        return path, Path(meta)
    found = amazon.default_meta_path(path) if fmt == "amazon" else yelp.default_business_path(path)
    if found is None:
        want = "meta_<Category>.json(.gz)" if fmt == "amazon" else yelp.BUSINESSES
        raise DataError(f"{path.parent}: no {want} beside {path.name}; pass --meta <file> "
                        f"(or --meta none to prepare without item text)")
    return path, found


def _filter_spec(recipe: Recipe | None, name: str, filter: str, dedup: str) -> FilterSpec:
    key = filter or (recipe.filter if recipe else "")
    if not key:
        raise DataError(f"--data {name} is not one of the paper's datasets ({', '.join(r.name for r in RECIPES)}), "
                        f"so its filtering is yours to choose: pass --filter {'|'.join(FILTERS)}")
    if key not in FILTERS:
        raise DataError(f"--filter {key!r}: choose one of {', '.join(FILTERS)}")
    spec = FILTERS[key]
    if dedup not in ("auto", "yes", "no"):
        raise DataError(f"--dedup {dedup!r}: choose auto, yes or no")
    return spec if dedup == "auto" else replace(spec, dedup=dedup == "yes")


def describe(ds, splits) -> list[str]:
    """Extra statistics lines for datasets built from raw or imported files (none for ml-100k/atomic)."""
    if "filter_log" not in ds.meta and "ids" not in ds.meta:
        return []
    lines = [f"  filter: {s['step']}: {s['interactions']:,} interactions, {s['users']:,} users, {s['items']:,} items"
             for s in ds.meta.get("filter_log", [])]
    if ds.meta.get("items_without_text"):
        lines.append(f"  {ds.meta['items_without_text']:,} items have no metadata line (their text is 'item <id>')")
    cold = next((s for s in splits if s.setting == "coldstart"), None)
    if cold is not None:
        info = cold.info
        lines.append(f"  coldstart groups: tail item = popularity < {info['ts_item']} ({info['threshold_rule']})")
    return lines + _published(ds)


def _published(ds) -> list[str]:
    pub = ds.meta.get("published") or {}
    if not pub:
        return []
    ours = {"users": ds.n_users, "items": ds.n_items, "interactions": len(ds.item)}
    known = [(k, pub[k]) for k in ours if pub.get(k)]
    if not known:
        return [f"  published ({pub.get('source', '?')}): figures not recorded here; see data/README.md"]
    parts = [f"{k} {v:,} (ours {ours[k]:,}, {ours[k] / v - 1:+.1%})" for k, v in known]
    return [f"  published ({pub.get('source', '?')}): " + ", ".join(parts)]
