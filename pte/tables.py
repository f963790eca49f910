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
