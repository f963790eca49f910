"""How generated profiles become files: resumable generation into profiles/<name>.jsonl, then
embeddings/<name>.npy + sidecar (paths: pte.pipeline). Profile rows hold id, raw id, text,
model, adapter and generation settings; <name>.partial.jsonl is the resume log of a run.

A missing or invalid profile is an error unless an explicit fallback is given; the rows
that used one are listed in the sidecar's ``fallback_rows``.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from pte.data import Dataset
from pte.io import write_jsonl
from pte.llm.generate import Backend, GenSettings, Job, file_digest, read_done, run_generation
from pte.pipeline import adapter_dir, embedding_path, outputs_dir, profile_path, teacher_path

FALLBACKS = ("", "zeros", "text")  # "" = error; zeros = zero vector; text = encode the raw description
EMBEDS = ("profile", "facts", "sentence")  # what a profile's embedding encodes (embedded_text)


def embedded_text(text: str, kind: str, embed: str = "profile") -> str:
    """The part of a profile its embedding encodes: the whole line ("profile"); ("facts") the line
    without the model's own sentence: the computed facts and the picked titles; or ("sentence") that
    sentence alone, with its field name. The ladder measures what the sentence adds and holds on its
    own (bench/bench_profiles.py), which is why all three are offered. A text without the profile's
    shape (a fallback) is encoded whole."""
    if embed not in EMBEDS:
        raise ValueError(f"embed must be one of {EMBEDS}, got {embed!r}")
    from pte.llm.data import facts_line
    from pte.llm.prompts import fields_of, split_profile
    parts = split_profile(text, kind) if embed != "profile" else None
    if not parts:
        return text
    return facts_line(kind, parts[0], parts[2]) if embed == "facts" else f"{fields_of(kind)[1]}: {parts[1]}"


def partial_path(final: str | Path, rank: int = 0, world: int = 1) -> Path:
    """The resume log of a run (one per process under ``accelerate launch``)."""
    final = Path(final)
    return final.with_name(final.stem + (".partial.jsonl" if world == 1 else f".partial.rank{rank}.jsonl"))


def partial_files(final: str | Path) -> list[Path]:
    final = Path(final)
    return sorted(final.parent.glob(final.stem + ".partial*.jsonl"))


def dist_info() -> tuple[int, int]:
    """(rank, world size) under ``accelerate launch``/torchrun; (0, 1) otherwise."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def wait_for_everyone() -> None:
    if dist_info()[1] > 1:
        from accelerate import PartialState
        PartialState().wait_for_everyone()


def produce(jobs: list[Job], final: str | Path, s: GenSettings, *, sig: str, backend: Backend,
            validate: Callable[[str], str | None], tokenizer=None, postprocess=None, row_meta: dict | None = None,
            force: bool = False, desc: str = "profiles", shape: str = "") -> dict[int, dict] | None:
    """Generate (resumably) every job's row; on the main process return all rows by id.

    Under ``accelerate launch`` with N processes each takes every N-th job and logs to
    its own partial file; the main process gathers them. ``force`` starts over.
    """
    final = Path(final)
    rank, world = dist_info()
    if force and rank == 0:
        for p in [final, *partial_files(final)]:
            p.unlink(missing_ok=True)
    wait_for_everyone()
    mine = jobs[rank::world]
    run_generation(mine, partial_path(final, rank, world), s, sig=sig, backend=backend, validate=validate,
                   tokenizer=tokenizer, postprocess=postprocess, row_meta=row_meta,
                   done_from=[final, *partial_files(final)], desc=desc, progress=rank == 0, shape=shape)
    wait_for_everyone()
    if rank != 0:
        return None
    return read_done([final, *partial_files(final)], sig)


def write_final(final: str | Path, rows: dict[int, dict]) -> None:
    """The final JSONL (sorted by id, atomically); the partial logs are then redundant."""
    write_jsonl(final, [rows[i] for i in sorted(rows)])
    for p in partial_files(final):
        p.unlink()


def resolve_adapter(data: str, setting: str, adapter: str) -> Path | None:
    """An adapter given as a stage name (e.g. "grpo") or a folder; "" or "none" = the base model."""
    if adapter in ("", "none"):
        return None
    p = Path(adapter)
    return p if p.is_dir() else adapter_dir(data, setting, adapter)


class ProfileError(RuntimeError):
    """Missing or unusable profiles without a fallback."""


class IncompleteProfiles(ProfileError):
    """Shipped profiles that cover only some of the ids (e.g. a --limit sample for the ladder)."""

    def __init__(self, message: str, missing: int):
        super().__init__(message)
        self.missing = missing


def description(ds: Dataset, kind: str, i: int) -> str:
    """What the "text" fallback encodes: the item's text, or the user's attributes."""
    if kind == "item":
        return ds.item_text(i)
    from pte.llm.data import user_desc
    return f"User: {user_desc(ds, i)}"


def finalize(rows: dict[int, dict], *, ds: Dataset, kind: str, name: str, data: str, setting: str,
             expected: list[int], encoder: str, fallback: str = "", skipped: dict[int, str] | None = None,
             skipped_fill: str = "zeros", meta: dict | None = None, embed: str = "profile") -> tuple[Path, Path]:
    """Write profiles/<name>.jsonl and embeddings/<name>.npy (+ sidecar), atomically.

    ``expected`` ids must have a valid row, else: error (fallback "") or the fallback.
    ``skipped`` ids were not generated by design (e.g. coldstart users without training
    interactions) and get ``skipped_fill``; both kinds are listed in the sidecar. ``embed`` says
    what of each profile is encoded (embedded_text); the JSONL always keeps the whole line.
    """
    from pte.encoder import encode
    if fallback not in FALLBACKS or skipped_fill not in FALLBACKS[1:]:
        raise ValueError(f"fallback must be one of {FALLBACKS}, got {fallback!r} / {skipped_fill!r}")
    n = ds.n_users if kind == "user" else ds.n_items
    raw = ds.user_raw if kind == "user" else ds.item_raw
    skipped = dict(skipped or {})
    missing = [i for i in expected if i not in rows]
    invalid = [i for i in expected if i in rows and (not rows[i].get("valid", True) or not str(rows[i].get("text", "")).strip())]
    uncovered = sorted(set(range(n)) - set(expected) - set(skipped))
    if uncovered:
        raise ProfileError(f"{name}: {len(uncovered)} {kind} rows are neither generated nor explicitly skipped "
                           f"(first: id {uncovered[0]}); every row of the embedding file must be accounted for")
    final = profile_path(data, setting, name)
    if (missing or invalid) and not fallback:
        first = (missing + invalid)[:5]
        reasons = {i: ("missing" if i in missing else rows[i].get("error") or "empty") for i in first}
        raise ProfileError(
            f"{name}: {len(missing)} {kind} profiles missing and {len(invalid)} invalid (e.g. "
            + ", ".join(f"id {i} [{raw[i]}]: {r}" for i, r in reasons.items())
            + f"). Re-run to fill missing ones (it resumes), delete the invalid lines from "
              f"{partial_path(final)} to regenerate them, or pass --fallback zeros|text to use that instead "
              f"(recorded in the sidecar).")
    fill = {i: fallback for i in missing + invalid}
    fill.update({i: skipped_fill for i in skipped})
    texts = {i: embedded_text(rows[i]["text"], kind, embed) for i in expected if i not in fill}
    texts.update({i: description(ds, kind, i) for i, f in fill.items() if f == "text"})
    order = sorted(texts)
    t0 = time.perf_counter()
    if order:
        vecs = encode([texts[i] for i in order], encoder, progress=len(order) > 2000)
        dim = vecs.shape[1]
    else:  # every row fell back to zeros
        from pte.encoder import load_encoder
        enc = load_encoder(encoder)
        dim = (getattr(enc, "get_embedding_dimension", None) or enc.get_sentence_embedding_dimension)()
    out = np.zeros((n, dim), np.float32)
    if order:
        out[order] = vecs
    emb = embedding_path(data, setting, name)
    fallback_rows = {f: [raw[i] for i in sorted(fill) if fill[i] == f] for f in set(fill.values())}
    reasons = {raw[i]: ("missing" if i in missing else "invalid: " + str(rows[i].get("error"))
                        if i in invalid else skipped[i]) for i in sorted(fill)}
    from pte.embeddings import save_embeddings
    save_embeddings(emb, out, list(raw), kind=kind, data=ds.name, encoder=encoder, setting=setting,
                    source=str(final.relative_to(outputs_dir(data))), name=name,
                    real_rows=len(order) - sum(1 for f in fill.values() if f == "text"),
                    fallback_rows=fallback_rows, fallback_reasons=reasons,
                    id_order=f"row i = internal {kind} id i (raw ids in 'ids')", embed=embed, **(meta or {}))
    write_final(final, rows)  # after the embeddings: a crash before leaves the resume logs intact
    print(f"{name}: {len(expected) - len(missing) - len(invalid)} profiles, {len(fill)} fallback rows "
          f"-> {emb} ({out.shape[0]} x {out.shape[1]}, encoded in {time.perf_counter() - t0:.0f} s)")
    return final, emb


def teacher_bank(data: str, setting: str, kind: str) -> dict[int, str]:
    """Valid teacher profiles by id; a clear error when the teacher has not run."""
    from pte.llm.data import load_bank
    p = teacher_path(data, setting, kind)
    if not p.exists():
        raise SystemExit(f"error: {p} not found. Run the teacher first: "
                         f"python llm/teacher.py --data {data} --setting {setting}")
    bank = load_bank(p)
    if not bank:
        raise SystemExit(f"error: {p} holds no valid {kind} profile; re-run llm/teacher.py (see its --backend)")
    return bank


def require_adapter(data: str, setting: str, adapter: str, made_by: str) -> Path | None:
    """The adapter folder of a stage name or path (None for ""/"none"), or an error naming the script to run."""
    p = resolve_adapter(data, setting, adapter)
    if p is not None and not (p / "adapter_config.json").exists():
        raise SystemExit(f"error: adapter {p} not found. Run {made_by} --data {data} --setting {setting} first "
                         f"(or pass --init_adapter/--adapter none to start from the base model)")
    return p


RESTORABLE = (("both", "item_profile", "item"), ("longtail", "user_profile", "user"))  # what results/ ships


def restore_shipped(ds: Dataset, *, data: str, setting: str, name: str, kind: str, source: Path,
                    encoder: str, embed: str = "profile") -> tuple[Path, Path]:
    """Write profiles/<name>.jsonl and embeddings/<name>.npy from shipped profile texts, as the
    inference script would have from the same lines (fallbacks and cold users included): the
    published profiles, encoded here, with no LLM. Rows must name this dataset's ids."""
    from pte.io import read_jsonl
    from pte.llm.data import train_view
    if not source.exists():
        raise ProfileError(f"{source}: no shipped {kind} profiles here. Ship them from a finished Profile "
                           f"stage with python bench/bench_profiles.py --data {data} --ship true")
    raw = ds.user_raw if kind == "user" else ds.item_raw
    rows: dict[int, dict] = {}
    for k, r in enumerate(read_jsonl(source), 1):
        i = r.get("id")
        if not isinstance(i, int) or not 0 <= i < len(raw) or str(r.get("raw")) != str(raw[i]) or i in rows:
            raise ProfileError(f"{source}: line {k} (id {i!r}, raw id {r.get('raw')!r}) is not a {kind} of "
                               f"{ds.name} in its id order, or repeats one: these texts were shipped for "
                               f"another dataset; ship this one's with bench/bench_profiles.py --ship true")
        rows[i] = r
    cold = set() if kind == "item" else set(range(ds.n_users)) - set(train_view(ds, setting).train_users.tolist())
    absent = sorted(set(range(len(raw))) - set(rows))
    if set(absent) - cold:
        first = min(set(absent) - cold)
        missing = len(set(absent) - cold)
        raise IncompleteProfiles(f"{source}: {missing} {kind}s with training interactions have no profile (first: "
                                 f"raw id {raw[first]}); the shipped file is incomplete, ship it again", missing)
    skipped = {i: "no training interactions (cold user)" for i in absent}
    return finalize(rows, ds=ds, kind=kind, name=name, data=data, setting=setting, expected=sorted(rows),
                    encoder=encoder, fallback="text", skipped=skipped, skipped_fill="zeros", embed=embed,
                    meta={"restored_from": source.name, "source_digest": file_digest(source)})
