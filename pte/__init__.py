"""PtE-Rec: the shared package behind every script of this repository.

Everything that defines what a number means lives here once: data loading and splits
(`pte.data`, `pte.splits`), metrics and the evaluator (`pte.metrics`, `pte.evaluate`),
embedding files (`pte.embeddings`), representation methods (`pte.reps`), the LLM stage
(`pte.llm`), and results/tables (`pte.results`, `pte.tables`).
"""
