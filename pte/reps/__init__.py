"""Representation methods, one module each, selected by ``--method <name>``.

Adding a method: write pte/reps/<name>.py with a Representation subclass (its
hyperparameters as UPPERCASE constants prefixed with the method name, e.g.
ALPHAFUSE_NULL_DIM) and add one line to METHODS.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from pte.reps.base import Batch, RepContext, Representation

# name -> "module:Class"
METHODS = {
    "base": "pte.reps.base:Base",
    "pte": "pte.reps.pte:PtE",
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


def method_namespaces() -> list[dict]:
    """Every method module's globals, so Main.py can override their constants by name."""
    return [vars(_resolve(n)[0]) for n in METHODS]


def build(name: str, ctx: RepContext) -> Representation:
    return _resolve(name)[1](ctx).to(ctx.device)
