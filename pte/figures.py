"""Figures the runs produce, written to img/: performance by item-popularity group per
method, and a 2-D view of ID vs LLM vs PtE item embeddings (the paper's motivation idea)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pte.tables import BACKBONE_ORDER, METHOD_LABEL, _ordered, collect


def popularity_groups(rows: list[dict], path: Path, tag: str | None = None, methods: str = "paper") -> Path | None:
    """Bars of test NDCG@10 on tail- vs head-item targets, per method (selected as in
    ``pte.tables.shown``): one row of panels per setting, one panel per backbone."""
    import matplotlib
    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
    grid = []
    for setting, mode in (("coldstart", "full"), ("longtail", "sampled")):
        data = collect(rows, setting, mode, tag, methods)
        panels = []
        for bb in [b for b in BACKBONE_ORDER if any(bb == b for bb, _ in data)]:
            names = _ordered([m for b, m in data if b == bb])
            if data[(bb, names[0])].get(("tail_item", "NDCG@10")):
                panels.append((setting, mode, bb, names, data))
        if panels:
            grid.append(panels)
    if not grid:
        return None
    cols = max(len(p) for p in grid)
    fig, axes = plt.subplots(len(grid), cols, figsize=(4.2 * cols, 3.2 * len(grid)), squeeze=False,
                             layout="constrained")
    for r, panels in enumerate(grid):
        for ax in axes[r][len(panels):]:
            ax.set_visible(False)
        for ax, (setting, mode, bb, names, data) in zip(axes[r], panels):
            x = np.arange(len(names))
            for k, (g, label) in enumerate((("tail_item", "tail items"), ("head_item", "head items"))):
                vals = [np.mean(data[(bb, m)].get((g, "NDCG@10"), [np.nan])) for m in names]
                ax.bar(x + (k - 0.5) * 0.38, vals, 0.38, label=label, color=("C0", "C1")[k])
            ax.set_xticks(x, [METHOD_LABEL.get(m, m) for m in names], rotation=45, ha="right", fontsize=8)
            ax.set_title(f"{bb}, {setting} ({mode} ranking)", fontsize=9)
            ax.set_ylabel("test NDCG@10", fontsize=8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=2, fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)
    return path


def embedding_views(tables: dict[str, np.ndarray], popularity: np.ndarray, path: Path) -> Path:
    """One PCA scatter per item-vector table, coloured by log item popularity."""
    import matplotlib
    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(tables), figsize=(3.4 * len(tables) + 1, 3.8), squeeze=False,
                             layout="constrained")
    color = np.log1p(popularity)
    for ax, (name, x) in zip(axes[0], tables.items()):
        xc = x - x.mean(0)
        _, s, vt = np.linalg.svd(xc, full_matrices=False)
        xy = xc @ vt[:2].T
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=color, s=4, cmap="viridis")
        share = (s[:2] ** 2).sum() / (s ** 2).sum()
        ax.set_title(f"{name}\n(PCA, {share:.0%} of variance)", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(sc, ax=axes[0].tolist(), label="log(1 + item popularity)", shrink=0.8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, metadata={"Software": None})   # ~7k points: keeps the shipped PNG small
    plt.close(fig)
    return path
