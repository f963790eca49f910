"""The paper's tables from results lines: mean ± std over seeds, best/second marks, Best Impr.,
latest row per seed wins, and a seed count per row when rows average different numbers of seeds."""
from pte.tables import arms_table, table3, table4, tables, versus_base


def row(method: str, seed: int, ndcg: float, tag: str = "main") -> dict:
    test = {"NDCG@10": ndcg, "MRR@10": ndcg / 2, "NDCG@20": ndcg * 1.5, "MRR@20": ndcg / 1.5}
    return {"data": "ml-100k", "setting": "coldstart", "backbone": "SASRec", "method": method, "seed": seed,
            "eval": "full", "tag": tag, "test": test}


def test_table3_means_marks_and_improvement():
    rows = [row("base", 1, 0.10), row("base", 2, 0.20), row("pte", 1, 0.30), row("pte", 2, 0.30),
            row("morec", 1, 0.05), row("morec", 2, 0.05), row("pte", 2, 0.9, tag="other")]
    text = table3(rows, "main")
    assert "| SASRec | Base | <u>0.1500 ± 0.0707</u> |" in text      # second best, sample std
    assert "**0.3000 ± 0.0000**" in text                            # best, other tags ignored
    assert "+100.00%" in text                                       # PtE vs the best other method
    assert "seed" not in text.split("\n\n", 1)[1]                   # equal seed counts: no labels


def test_table3_latest_row_per_seed_wins_and_mixed_seed_counts_are_labelled():
    rows = [row("base", 1, 0.10), row("base", 1, 0.12), row("base", 2, 0.12), row("pte", 1, 0.30)]
    text = table3(rows, "main")
    assert "| Base (2 seeds) | <u>0.1200 ± 0.0000</u> |" in text
    assert "| PtE (1 seed) | **0.3000** |" in text


def test_tables_show_the_papers_methods_unless_asked_for_all():
    rows = [row("base", 1, 0.10), row("morec", 1, 0.20)]
    for r in rows:
        r["setting"] = "longtail"
        r["eval"] = "sampled"
        r["test"] = {"HR@10": 0.5, "NDCG@10": r["test"]["NDCG@10"]}
    paper, every = table4(rows, tag="main"), table4(rows, tag="main", methods="all")
    assert "| Base |" in paper and "MoRec" not in paper            # the paper's longtail SASRec has no MoRec
    assert "| MoRec | **0.5000** | **0.2000** |" in every
    assert "MoRec" in table4(rows, tag="main", methods="paper,morec")


def test_versus_base_pools_the_profile_stage_runs():
    rows = [row("base", 1, 0.10), row("base", 2, 0.12), row("pte", 1, 0.13), row("pte", 2, 0.15),
            row("pte", 1, 0.14, tag="main_llm1"), row("pte", 2, 0.14, tag="main_llm1"),
            row("pte", 1, 0.50, tag="quick")]          # a tag not asked for is ignored
    text = versus_base(rows, ["main", "main_llm1"])
    line = next(l for l in text.splitlines() if l.startswith("| coldstart SASRec"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[1:5] == ["0.1100 ± 0.0141 (2)", "0.1400 ± 0.0141 (2)", "0.1400 ± 0.0000 (2)", "0.1400 ± 0.0082 (4)"]
    assert cells[5:] == ["+27.3%", "yes"]              # 0.14 - 0.11 > max(0.0141, 0.0082)
    rows.append(row("base", 3, 0.16))                  # Base 0.1267 ± 0.0306: the gap is inside its spread
    assert versus_base(rows, ["main", "main_llm1"]).splitlines()[2].endswith("| no |")
    assert "BiasMF" not in text                        # cells without both methods are left out


def test_versus_base_takes_base_from_another_tag_and_compares_on_validation():
    rows = [row("base", 1, 0.10), row("base", 2, 0.12), row("pte", 1, 0.20, tag="main_facts"),
            row("pte", 2, 0.22, tag="main_facts")]
    for r in rows:
        r["valid"] = {k: v / 2 for k, v in r["test"].items()}
    assert "coldstart SASRec" not in versus_base(rows, ["main_facts"])   # no Base rows under main_facts
    line = next(l for l in versus_base(rows, ["main_facts"], base_tag="main").splitlines() if "coldstart" in l)
    assert "0.1100 ± 0.0141 (2) | 0.2100 ± 0.0141 (2)" in line
    line = next(l for l in versus_base(rows, ["main_facts"], base_tag="main", split="valid").splitlines()
                if "coldstart" in l)
    assert "0.0550 ± 0.0071 (2) | 0.1050 ± 0.0071 (2)" in line


def test_before_shows_the_tables_as_they_stood_before_a_rerun():
    rows = [row("base", 1, 0.10), row("base", 2, 0.12), row("pte", 1, 0.13), row("pte", 2, 0.15),
            row("pte", 1, 0.20), row("pte", 2, 0.22)]
    for r, t in zip(rows, ["2026-12-01T10:00"] * 4 + ["2026-12-02T15:00"] * 2):
        r["time"] = t
    now = tables(versus="main", rows=rows)
    then = tables(versus="main", rows=rows, before="2026-12-02T14:00")
    assert "| 0.2100 ± 0.0141 (2) |" in now and "0.2100" not in then    # the rerun replaced PtE's rows
    assert "| 0.1400 ± 0.0141 (2) |" in then


def test_arms_put_runs_side_by_side_with_the_chosen_weights():
    rows = [row("base", 1, 0.10), row("base", 2, 0.12), row("base", 1, 0.30, tag="recipe_retrieval"),
            row("pte", 1, 0.20, tag="recipe_retrieval"), row("pte", 2, 0.22, tag="recipe_retrieval")]
    rows[-2]["retrieval"], rows[-1]["retrieval"] = {"weight": 0.5}, {"weight": 2.0}
    text = arms_table(rows, ["base@main", "base@recipe_retrieval", "pte@recipe_retrieval"])
    line = next(l for l in text.splitlines() if l.startswith("| coldstart SASRec"))
    assert line == ("| coldstart SASRec, N@10 (full) | 0.1100 ± 0.0141 (2) | 0.3000 (1) | 0.2100 ± 0.0141 (2) "
                    "| +90.9% | yes | 0.5, 2 |")
    assert "Base [main]" in text.splitlines()[0] and "PtE [recipe_retrieval]" in text.splitlines()[0]


def test_the_best_arm_is_chosen_on_validation_and_named():
    """``best@tag`` is the method but PtE whose validation is highest in the cell, even when another
    method's test number is higher: a test column never picks its own winner."""
    rows = [row("base", 1, 0.30, tag="t"), row("alphafuse", 1, 0.20, tag="t"), row("alphafuse", 2, 0.22, tag="t"),
            row("pte", 1, 0.50, tag="t"), row("pte", 1, 0.25, tag="u")]
    for r, valid in zip(rows, (0.10, 0.40, 0.42, 0.90, 0.5)):
        r["valid"] = {"NDCG@10": valid}
    rows[-1]["retrieval"] = {"weight": 4.0}
    line = next(l for l in arms_table(rows, ["best@t", "pte@u"]).splitlines() if l.startswith("| coldstart SASRec"))
    assert line == "| coldstart SASRec, N@10 (full) | 0.2100 ± 0.0141 (2, AlphaFuse) | 0.2500 (1) | +19.0% | yes | 4 |"
    valid = arms_table(rows, ["best@t", "pte@u"], split="valid")
    assert "0.4100 ± 0.0141 (2, AlphaFuse)" in valid
    assert "best but PtE [t]" in valid.splitlines()[0]
    rows.append(row("pte_raw", 1, 0.60, tag="t"))
    rows[-1]["valid"] = {"NDCG@10": 0.95}   # a PtE variant is PtE, never the best other method
    assert "0.4100 ± 0.0141 (2, AlphaFuse)" in arms_table(rows, ["best@t", "pte@u"], split="valid")
