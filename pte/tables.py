"""Readable tables from results lines: one run (printed by every Main.py) and, later,
the paper's Tables 3 and 4 (built only from results/*.jsonl)."""
from __future__ import annotations

SHOW = ("HR@10", "NDCG@10", "MRR@10", "HR@20", "NDCG@20", "MRR@20")
GROUPS = ("tail_item", "head_item", "tail_user", "head_user")


def _line(label: str, metrics: dict, keys=SHOW) -> str:
    return f"{label:<22}" + "".join(f"{metrics.get(k, float('nan')):>10.4f}" for k in keys)


def format_run(row: dict) -> str:
    """The valid/test metrics of one run, both modes, with group breakdowns when present."""
    head = (f"\n{row['backbone']} / {row['method']} on {row['data']} ({row['setting']}), seed {row['seed']}, "
            f"best epoch {row['best_epoch']}, train {row['train_seconds']:.1f}s, test eval {row['eval_seconds'] * 1000:.0f} ms")
    lines = [head, f"{'':<22}" + "".join(f"{k:>10}" for k in SHOW)]
    modes = {row["eval"]: {"valid": row["valid"], "test": row["test"]}, **row.get("other", {})}
    for mode, parts in modes.items():
        tag = f"{mode}{' (selects)' if mode == row['eval'] else ''}"
        for part in ("valid", "test"):
            lines.append(_line(f"{part} [{tag}]", parts[part]))
        groups = parts["test"].get("groups", {})
        for g in GROUPS:
            if g in groups:
                lines.append(_line(f"  test {g} (n={groups[g]['n']})", groups[g]))
    return "\n".join(lines)


# ---------------------------------------------------------------- the paper's tables

import math
import re
import sys
from collections import defaultdict
from pathlib import Path

METHOD_ORDER = ("base", "idreamrec", "morec", "unisrec", "whitenrec", "rlmrec_con", "rlmrec_gen",
                "llminit", "llmesr", "alphafuse", "pte")
METHOD_LABEL = {"base": "Base", "idreamrec": "iDreamRec", "morec": "MoRec", "unisrec": "UniSRec",
                "whitenrec": "WhitenRec", "rlmrec_con": "RLMRec-Con", "rlmrec_gen": "RLMRec-Gen",
                "llminit": "LLMInit", "llmesr": "LLM-ESR", "alphafuse": "AlphaFuse", "pte": "PtE",
                "pte_projection": "PtE (projection)", "pte_raw": "PtE (raw)"}
BACKBONE_ORDER = ("SASRec", "DreamRec", "BiasMF")
TABLE3_COLS = (("N@10", "NDCG@10"), ("M@10", "MRR@10"), ("N@20", "NDCG@20"), ("M@20", "MRR@20"))
TABLE4_GROUPS = (("Overall", None), ("Tail Item", "tail_item"), ("Head Item", "head_item"),
                 ("Tail User", "tail_user"), ("Head User", "head_user"))
TABLE4_COLS = (("R@10", "HR@10"), ("N@10", "NDCG@10"))
# the methods each table of the paper shows, per (setting, backbone); "--methods all" shows every one run.
# The paper's DreamRec block has one "RLMRec" row without saying which variant: both are shown.
PAPER_METHODS = {
    ("coldstart", "SASRec"): "base,morec,unisrec,whitenrec,rlmrec_con,rlmrec_gen,llminit,llmesr,alphafuse,pte",
    ("coldstart", "DreamRec"): "base,idreamrec,morec,unisrec,whitenrec,rlmrec_con,rlmrec_gen,llminit,llmesr,"
                               "alphafuse,pte",
    ("coldstart", "BiasMF"): "base,pte",
    ("longtail", "SASRec"): "base,llmesr,alphafuse,pte",
    ("longtail", "DreamRec"): "base,pte",
    ("longtail", "BiasMF"): "base,pte",
}


def paper_methods(setting: str, backbone: str) -> list[str]:
    return PAPER_METHODS.get((setting, backbone), "base,pte").split(",")


def shown(setting: str, backbone: str, method: str, methods: str = "paper") -> bool:
    """Whether a table selecting ``methods`` ("paper", "all", or a list such as "paper,morec") shows a row."""
    names = methods.split(",")
    return "all" in names or method in names or ("paper" in names and method in paper_methods(setting, backbone))


def _metrics(row: dict, mode: str, split: str = "test") -> dict | None:
    """The ``split`` (test | valid) metrics of a results row in ``mode`` (its own mode or the other one)."""
    if row["eval"] == mode:
        return row[split]
    return row.get("other", {}).get(mode, {}).get(split)


def _stat(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return mean, std


def collect(rows: list[dict], setting: str, mode: str, tag: str | None = None, methods: str = "paper",
            split: str = "test") -> dict:
    """{(backbone, method): {column key: [values over seeds]}} for one setting and eval mode, the
    methods selected as in ``shown``. The latest row per (backbone, method, seed) wins, so a rerun
    replaces its earlier number."""
    latest = {}
    for r in rows:
        if r["setting"] == setting and (tag is None or r.get("tag", "") == tag) and \
                shown(setting, r["backbone"], r["method"], methods):
            latest[(r["backbone"], r["method"], r["seed"])] = r
    out: dict = defaultdict(lambda: defaultdict(list))
    for (bb, method, _), r in latest.items():
        m = _metrics(r, mode, split)
        if m is None:
            continue
        for k, v in m.items():
            if isinstance(v, float):
                out[(bb, method)][(None, k)].append(v)
        for g, gm in m.get("groups", {}).items():
            for k, v in gm.items():
                if isinstance(v, float):
                    out[(bb, method)][(g, k)].append(v)
    return out


def _ordered(methods) -> list[str]:
    return sorted(methods, key=lambda m: (METHOD_ORDER.index(m) if m in METHOD_ORDER else len(METHOD_ORDER), m))


def _block(cells: dict, methods: list[str], cols: list) -> list[list[str]]:
    """Rows of (label, formatted cells...) with best/second marked per column, plus Best Impr."""
    means = {m: {c: _stat(cells[m][c]) if cells[m].get(c) else None for c in cols} for m in methods}
    rank = {}
    for c in cols:
        vals = sorted({round(means[m][c][0], 6) for m in methods if means[m][c]}, reverse=True)
        rank[c] = vals[:2]
    seeds = {m: max((len(v) for v in cells[m].values() if v), default=0) for m in methods}
    mixed = len(set(seeds.values()) - {0}) > 1   # rows over different numbers of seeds: say so per row
    table = []
    for m in methods:
        row = [METHOD_LABEL.get(m, m) + (f" ({seeds[m]} seed{'s' * (seeds[m] > 1)})" if mixed else "")]
        for c in cols:
            if means[m][c] is None:
                row.append(("-", 0))
                continue
            mean, std = means[m][c]
            n = len(cells[m][c])
            text = f"{mean:.4f}" + (f" ± {std:.4f}" if n > 1 else "")
            r = round(mean, 6)
            row.append((text, 1 if rank[c] and r == rank[c][0] else 2 if len(rank[c]) > 1 and r == rank[c][1] else 0))
        table.append(row)
    if "pte" in methods and len(methods) > 1:
        impr = ["Best Impr."]
        for c in cols:
            others = [means[m][c][0] for m in methods if m != "pte" and means[m][c]]
            if means["pte"][c] and others and max(others) > 0:
                impr.append((f"{100 * (means['pte'][c][0] / max(others) - 1):+.2f}%", 0))
            else:
                impr.append(("-", 0))
        table.append(impr)
    return table


def _fmt(cell, latex: bool) -> str:
    text, mark = cell
    if latex:
        text = text.replace("±", r"$\pm$").replace("%", r"\%")
        return [text, rf"\textbf{{{text}}}", rf"\underline{{{text}}}"][mark]
    return [text, f"**{text}**", f"<u>{text}</u>"][mark]


def table3(rows: list[dict], tag: str | None = None, latex: bool = False, methods: str = "paper") -> str:
    """Coldstart: backbone x method x N@10/M@10/N@20/M@20 (full ranking over all items)."""
    data = collect(rows, "coldstart", "full", tag, methods)
    cols = [(None, key) for _, key in TABLE3_COLS]
    heads = [h for h, _ in TABLE3_COLS]
    backbones = [b for b in BACKBONE_ORDER if any(bb == b for bb, _ in data)]
    caption = ("Table 3 (coldstart users; full ranking over all items; test at the epoch with the best "
               "validation NDCG@20; mean ± std over seeds). Best in bold, second underlined.")
    blocks = [(b, _block({m: data[(b, m)] for bb, m in data if bb == b},
                         _ordered([m for bb, m in data if bb == b]), cols)) for b in backbones]
    return _render(caption, ["Backbone", "Method", *heads], blocks, latex)


def table4(rows: list[dict], mode: str = "sampled", backbone: str = "SASRec", tag: str | None = None,
           latex: bool = False, methods: str = "paper") -> str:
    """Longtail: method x (overall, tail/head item, tail/head user) x HR@10/NDCG@10."""
    data = collect(rows, "longtail", mode, tag, methods)
    cols = [(g, key) for _, g in TABLE4_GROUPS for _, key in TABLE4_COLS]
    heads = [f"{gl} {h}" for gl, _ in TABLE4_GROUPS for h, _ in TABLE4_COLS]
    names = _ordered([m for bb, m in data if bb == backbone])
    how = "100 stored negatives per user (R@10 = HR@10 over 101 candidates)" if mode == "sampled" else \
        "full ranking over all items, the user's earlier items masked"
    caption = (f"Table 4 (longtail, {backbone}; {how}; test at the epoch with the best validation NDCG@10; "
               f"mean ± std over seeds). Best in bold, second underlined.")
    blocks = [(backbone, _block({m: data[(backbone, m)] for m in names}, names, cols))] if names else []
    return _render(caption, ["Backbone", "Method", *heads], blocks, latex)


def _render(caption: str, heads: list[str], blocks: list, latex: bool) -> str:
    if not blocks:
        return f"{caption}\n\n(no results yet)\n"
    if latex:
        lines = [r"\begin{table*}[t]", r"\centering", rf"\caption{{{caption}}}",
                 r"\resizebox{\linewidth}{!}{%", rf"\begin{{tabular}}{{l|l|{'c' * (len(heads) - 2)}}}", r"\toprule",
                 " & ".join(heads) + r" \\", r"\midrule"]
        for k, (b, rows) in enumerate(blocks):
            for i, row in enumerate(rows):
                first = rf"\multirow{{{len(rows)}}}{{*}}{{{b}}}" if i == 0 else ""
                lines.append(" & ".join([first, row[0], *(_fmt(c, True) for c in row[1:])]) + r" \\")
            lines.append(r"\midrule" if k < len(blocks) - 1 else r"\bottomrule")
        lines += [r"\end{tabular}}", r"\end{table*}"]
        return "\n".join(lines) + "\n"
    lines = [caption, "", "| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for b, rows in blocks:
        for i, row in enumerate(rows):
            lines.append("| " + " | ".join([b if i == 0 else "", row[0], *(_fmt(c, False) for c in row[1:])]) + " |")
    return "\n".join(lines) + "\n"


def tables(data: str = "ml-100k", tag: str = "", latex: bool = False, methods: str = "paper",
           backbones: str = "", settings: str = "coldstart,longtail", modes: str = "sampled,full",
           ladder: bool = False, versus: str = "", split: str = "test", before: str = "", arms: str = "",
           rows: list[dict] | None = None, results: Path | None = None) -> str:
    """Table 3 (coldstart) and Table 4 per longtail backbone and mode, from the results lines
    (``results``: another results folder than results/, e.g. the shipped one); ``ladder``: the
    profile ladder instead, the latest run of ``tag`` in <data>_profiles.jsonl; ``versus``
    (tags, comma-separated): PtE against Base per cell over those Profile-stage runs (Base from
    ``tag`` when given), on ``split``; ``arms`` (method@tag, comma-separated): those runs side by
    side per cell (arms_table). ``before`` (an ISO time, e.g. 2026-12-02T14:00): only the
    lines written before it, i.e. the tables as they stood before a later round replaced rows."""
    from pte.io import read_jsonl
    from pte.results import results_path
    if split not in ("test", "valid"):
        raise SystemExit(f"error: --split must be test or valid, got {split!r}")
    path = (Path(results) / results_path(data).name) if results else results_path(data)
    if ladder:
        return profile_ladder(earlier(read_jsonl(path.with_name(f"{path.stem}_profiles.jsonl")), before),
                              tag or "main")
    rows = earlier((read_jsonl(path) if path.exists() else []) if rows is None else rows, before)
    if versus:
        return versus_base(rows, versus.split(","), backbones, tag, split)
    if arms:
        return arms_table(rows, arms.split(","), backbones, split)
    tag_ = tag or None
    out = []
    if "coldstart" in settings.split(","):
        out.append(table3(rows, tag_, latex, methods))
    if "longtail" in settings.split(","):
        longtail = {b for b, _ in collect(rows, "longtail", "sampled", tag_, methods)}
        for backbone in backbones.split(",") if backbones else [b for b in BACKBONE_ORDER if b in longtail]:
            for mode in modes.split(","):
                out.append(table4(rows, mode, backbone, tag_, latex, methods))
    return "\n".join(out)


def earlier(rows: list[dict], before: str) -> list[dict]:
    """The lines written before ``before`` (ISO times compare as strings); all of them when it is empty."""
    return [r for r in rows if r.get("time", "") < before] if before else rows


MAIN_METRIC = {"coldstart": ("full", "NDCG@10", "N@10 (full)"),          # setting: (mode, key, label)
               "longtail": ("sampled", "NDCG@10", "N@10 (100 negatives)")}


def _mean_std_n(values: list[float], note: str = "") -> str:
    """A cell's values as mean ± std (n[, note]), as mean (1[, note]) for one value, "-" for none."""
    if not values:
        return "-"
    mean, std = _stat(values)
    count = f"({len(values)}{', ' + note if note else ''})"
    return f"{mean:.4f} ± {std:.4f} {count}" if len(values) > 1 else f"{mean:.4f} {count}"


def _versus(ref: list[float], new: list[float]) -> tuple[str, str]:
    """(new's mean relative to ref's, whether new is above ref by more than one std of both)."""
    (rm, rs), (nm, ns) = _stat(ref), _stat(new)
    gap = "yes" if nm - rm > max(rs, ns) else "no" if nm > rm else "no (below)"
    return f"{100 * (nm / rm - 1):+.1f}%", gap


def versus_base(rows: list[dict], tags: list[str], backbones: str = "", base_tag: str = "",
                split: str = "test") -> str:
    """PtE against Base on each cell's main metric, with PtE's Profile-stage runs apart and pooled:
    Base from ``base_tag`` (default: the first tag); one PtE column per tag (a run of the Profile
    stage, e.g. main and main_llm1, or a variant of it); "all runs" pools every (Profile-stage run,
    backbone seed) pair, so its std holds the LLM side's variance as well as the backbone's.
    ``split`` valid compares on validation (where a variant is chosen), test otherwise."""
    heads = ["cell", "Base", *(f"PtE [{t}]" for t in tags), "PtE, all runs", "relative", "gap > one std of both?"]
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for setting, (mode, key, label) in MAIN_METRIC.items():
        for bb in (backbones.split(",") if backbones else BACKBONE_ORDER):
            base = collect(rows, setting, mode, base_tag or tags[0], "base", split).get((bb, "base"), {}).get(
                (None, key), [])
            runs = [collect(rows, setting, mode, t, "pte", split).get((bb, "pte"), {}).get((None, key), [])
                    for t in tags]
            pooled = [v for r in runs for v in r]
            if not base or not pooled:
                continue
            cells = [f"{setting} {bb}, {label}", _mean_std_n(base), *(_mean_std_n(r) for r in runs),
                     _mean_std_n(pooled), *_versus(base, pooled)]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _weights(rows: list[dict], setting: str, backbone: str, method: str, tag: str) -> str:
    """The retrieval term's chosen weights over seeds (pte.retrieval), e.g. "0.5, 1, 0.5"; "-" if none."""
    latest = {r["seed"]: r for r in rows if (r["setting"], r["backbone"], r["method"], r.get("tag", "")) ==
              (setting, backbone, method, tag) and "retrieval" in r}
    return ", ".join(f"{latest[s]['retrieval']['weight']:g}" for s in sorted(latest)) or "-"


def _arm(rows: list[dict], setting: str, backbone: str, method: str, tag: str, split: str) -> tuple[list[float], str]:
    """(one arm's main metric over seeds in a cell, the method it is). ``best`` is the method other than
    PtE and its variants (pte_raw, ...), Base included, with the highest mean validation metric under
    ``tag`` in that cell: chosen on validation whatever ``split`` shows, so a test column never picks
    its own winner."""
    mode, key, _ = MAIN_METRIC[setting]
    if method == "best":
        valid = {m: v[(None, key)] for (bb, m), v in collect(rows, setting, mode, tag, "all", "valid").items()
                 if bb == backbone and not m.startswith("pte") and v.get((None, key))}
        if not valid:
            return [], method
        method = max(valid, key=lambda m: _stat(valid[m])[0])
    return collect(rows, setting, mode, tag, method, split).get((backbone, method), {}).get((None, key), []), method


def arms_table(rows: list[dict], arms: list[str], backbones: str = "", split: str = "test") -> str:
    """Each cell's main metric for several runs side by side: ``arms`` are method@tag (e.g.
    base@main,pte@recipe_retrieval; method ``best``: the best method but PtE under that tag, chosen on
    validation per cell and named in the cell); then the last arm against the first (relative, and
    whether the gap exceeds one std of both) and the retrieval weights the last arm chose on validation."""
    specs = [a.split("@", 1) if "@" in a else (a, "") for a in arms]
    heads = ["cell", *(("best but PtE" if m == "best" else METHOD_LABEL.get(m, m)) + f" [{t}]" for m, t in specs),
             "last vs first", "gap > one std of both?", "weight (last, per seed)"]
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for setting, (mode, key, label) in MAIN_METRIC.items():
        for bb in (backbones.split(",") if backbones else BACKBONE_ORDER):
            arms_here = [_arm(rows, setting, bb, m, t, split) for m, t in specs]
            cols = [values for values, _ in arms_here]
            if not any(cols):
                continue
            shown = [_mean_std_n(v, METHOD_LABEL.get(chosen, chosen) if m == "best" else "")
                     for (v, chosen), (m, _) in zip(arms_here, specs)]
            versus = _versus(cols[0], cols[-1]) if cols[0] and cols[-1] else ("-", "-")
            lines.append("| " + " | ".join([f"{setting} {bb}, {label}", *shown, *versus,
                                            _weights(rows, setting, bb, arms_here[-1][1], specs[-1][1])]) + " |")
    return "\n".join(lines) + "\n"


DOC_BLOCK = re.compile(r"(<!-- python -m pte\.tables(?P<args>[^>]*?) -->\n)(?P<body>.*?)(<!-- end -->)", re.S)


def doc_blocks(text: str) -> list[tuple[str, str]]:
    """(arguments, body) of every ``<!-- python -m pte.tables ARGS -->`` ... ``<!-- end -->`` block."""
    return [(m.group("args").strip(), m.group("body")) for m in DOC_BLOCK.finditer(text)]


def profile_ladder(rows: list[dict], tag: str) -> str:
    """The latest profile-ladder run of ``tag`` (rows bench/bench_profiles.py appended) as a table."""
    from pte.profile_bench import format_ladder, format_steps, format_sweeps
    runs = [r for r in rows if r.get("tag") == tag]
    if not runs:
        return f"(no profile-ladder rows with tag {tag!r})\n"
    latest = max(r["time"] for r in runs)
    ladder = [r for r in runs if r["time"] == latest]
    extra = [f"{r['name']} (user side, vs the final item profiles): NDCG@10 {r['vs_item_profiles']['NDCG@10']:.4f}"
             for r in ladder if "vs_item_profiles" in r] + format_steps(ladder) + format_sweeps(ladder)
    return "```\n" + format_ladder(ladder) + "\n" + "\n".join(extra) + "\n```\n"


def render_block(args: str, results: Path | None = None) -> str:
    return tables(**_options(args.split()), results=results) + "\n"


def update_doc(path: str | Path, results: Path | None = None) -> int:
    """Rewrite every table block of a Markdown file from the results lines; returns how many changed."""
    path = Path(path)
    text = path.read_text()
    changed = 0

    def fill(m: re.Match) -> str:
        nonlocal changed
        body = render_block(m.group("args").strip(), results)
        changed += body != m.group("body")
        return m.group(1) + body + m.group(4)

    path.write_text(DOC_BLOCK.sub(fill, text))
    return changed


def _options(argv: list[str]) -> dict:
    from pte.config import apply_overrides
    import inspect
    opts = {"__doc__": inspect.getdoc(main), "DATA": "ml-100k", "TAG": "", "LATEX": False, "METHODS": "paper",
            "BACKBONES": "", "SETTINGS": "coldstart,longtail", "MODES": "sampled,full", "LADDER": False,
            "VERSUS": "", "SPLIT": "test", "BEFORE": "", "ARMS": ""}
    apply_overrides(opts, argv)
    return {k.lower(): v for k, v in opts.items() if k.isupper()}


def main(argv: list[str] | None = None) -> None:
    """python -m pte.tables --data ml-100k [--tag main] [--methods paper|all|paper,morec]
    [--backbones SASRec,DreamRec] [--settings coldstart,longtail] [--modes sampled,full]:
    print Table 3, and Table 4 per backbone (default: each with longtail results) and mode.
    python -m pte.tables --ladder true [--tag main]: the latest profile ladder (bench/bench_profiles.py).
    python -m pte.tables --versus main,main_llm1: PtE against Base per cell, over those Profile-stage runs
    ([--tag main]: Base's tag; [--split valid]: on validation).
    python -m pte.tables --arms base@main,pte@recipe_retrieval: runs (method@tag) side by side per cell
    (best@tag: per cell, the method but PtE with the best validation under tag).
    Any of them with [--before 2026-12-02T14:00]: from the lines written before that time only.
    python -m pte.tables --update_doc RESULTS.md: rewrite the document's table blocks."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--update_doc" in argv:
        doc = argv[argv.index("--update_doc") + 1]
        print(f"{doc}: {update_doc(doc)} table block(s) changed")
        return
    print(tables(**_options(argv)))


if __name__ == "__main__":
    main()
