"""Representation methods, one module each, selected by ``--method <name>``.

Adding a method: write pte/reps/<name>.py with a Representation subclass (its
hyperparameters as UPPERCASE constants prefixed with the method name, e.g.
ALPHAFUSE_NULL_DIM; what it reads as READS, e.g. {"item_emb": "item_profile"}) and add
one line to METHODS. reproduce.py then schedules it after the stages making its files.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from pte.reps.base import Batch, RepContext, Representation

# name -> "module:Class"
METHODS = {
    "base": "pte.reps.base:Base",
    "pte": "pte.reps.pte:PtE",
    "pte_projection": "pte.reps.pte:PtEProjection",
    "pte_raw": "pte.reps.pte:PtERaw",
    "morec": "pte.reps.morec:MoRec",
    "unisrec": "pte.reps.unisrec:UniSRec",
    "whitenrec": "pte.reps.whitenrec:WhitenRec",
    "llminit": "pte.reps.llminit:LLMInit",
    "alphafuse": "pte.reps.alphafuse:AlphaFuse",
    "idreamrec": "pte.reps.idreamrec:IDreamRec",
    "rlmrec_con": "pte.reps.rlmrec:RLMRecCon",
    "rlmrec_gen": "pte.reps.rlmrec:RLMRecGen",
    "llmesr": "pte.reps.llmesr:LLMESR",
}


def _resolve(name: str) -> tuple[ModuleType, type]:
    if name not in METHODS:
        raise SystemExit(f"error: unknown --method {name!r}; choose one of {sorted(METHODS)}")
    mod, cls = METHODS[name].split(":")
    module = importlib.import_module(mod)
    return module, getattr(module, cls)


def method_class(name: str) -> type[Representation]:
    return _resolve(name)[1]


def method_namespaces() -> list[dict]:
    """Every method module's globals (once each) and the retrieval term's (pte.retrieval, which
    every method may use), so Main.py can override their constants by name."""
    from pte import retrieval
    modules = {id(m): m for m in (*(_resolve(n)[0] for n in METHODS), retrieval)}
    return [vars(m) for m in modules.values()]


def build(name: str, ctx: RepContext) -> Representation:
    """The method, built for the run; with the retrieval term on, its vectors checked before training."""
    from pte import retrieval
    cls = _resolve(name)[1]
    ctx.reads = cls.reads(ctx.split.setting)
    rep = cls(ctx).to(ctx.device)
    if retrieval.is_on():
        retrieval.retrieval_table(rep, ctx.ds, ctx.split.setting)
    return rep
