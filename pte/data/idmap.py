"""The one place that converts item ids and padding between the authors' files and ours.

ours (pte.splits)   internal ids 0..n-1; sequences left-padded with PAD = -1, most recent item last
LLM-ESR             ids 1..n (= internal + 1); pad 0, left-padded (SASRec style);
                    embedding pickles: row r = item id r + 1 = internal r
AlphaFuse/DreamRec  ids 0..n-1 (= internal); pad = n (item_num), right-padded: the prefix's
                    items first, then pads; len_seq = max(1, real items) (the empty prefix has 1);
                    *_emb.pickle: row r = item id r = internal r (no pad row)

Every conversion checks ids and padding and names the offending row.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pte.data.atomic import DataError
from pte.splits import PAD


@dataclass(frozen=True)
class IdScheme:
    name: str
    offset: int           # external id of internal item 0
    pad_is_count: bool    # the pad id is n_items (AlphaFuse) rather than 0 (LLM-ESR)
    right_padded: bool    # real items first, pads after

    def pad(self, n_items: int) -> int:
        return n_items if self.pad_is_count else 0

    def to_internal(self, ids, n_items: int, where: str = "") -> np.ndarray:
        """External item ids (no padding allowed) -> internal ids."""
        ids = np.asarray(ids, dtype=np.int64)
        bad = (ids < self.offset) | (ids >= n_items + self.offset)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise DataError(f"{where}: item id {ids.flat[k]} at position {k} is outside {self.name}'s range "
                            f"{self.offset}..{n_items + self.offset - 1} ({n_items} items)")
        return ids - self.offset

    def to_external(self, ids) -> np.ndarray:
        return np.asarray(ids, dtype=np.int64) + self.offset

    def rows_to_internal(self, rows, n_items: int, where: str = "") -> tuple[np.ndarray, np.ndarray]:
        """Padded id rows [N, L] in this scheme -> (ours: [N, L] left-padded with PAD, real lengths [N])."""
        rows = np.asarray(rows, dtype=np.int64)
        is_pad = rows == self.pad(n_items)
        self._check_padding(is_pad, where)
        lengths = (~is_pad).sum(1)
        real = np.where(is_pad, self.offset, rows)  # pads replaced by a valid id for the range check
        internal = self.to_internal(real, n_items, where)
        if self.right_padded:
            internal = _shift_right(internal, lengths)
        out = np.where(_left_mask(lengths, rows.shape[1]), internal, PAD)
        return out.astype(np.int32), lengths

    def rows_to_external(self, inputs, n_items: int) -> np.ndarray:
        """Ours ([N, L] left-padded with PAD) -> this scheme's padded rows."""
        inputs = np.asarray(inputs, dtype=np.int64)
        lengths = (inputs != PAD).sum(1)
        ext = np.where(inputs == PAD, self.pad(n_items), self.to_external(inputs))
        if self.right_padded:
            ext = _shift_left(ext, lengths, self.pad(n_items))
        return ext

    def _check_padding(self, is_pad: np.ndarray, where: str) -> None:
        # right padding: no real item after a pad; left padding: no pad after a real item
        wrong = (is_pad[:, :-1] & ~is_pad[:, 1:]) if self.right_padded else (~is_pad[:, :-1] & is_pad[:, 1:])
        if wrong.any():
            r = int(np.flatnonzero(wrong.any(1))[0])
            side = "right (items first, then pads)" if self.right_padded else "left (pads first, then items)"
            raise DataError(f"{where}: row {r} is not padded on the {side} as {self.name} files are")


LLMESR = IdScheme("LLM-ESR", offset=1, pad_is_count=False, right_padded=False)
ALPHAFUSE = IdScheme("AlphaFuse/DreamRec", offset=0, pad_is_count=True, right_padded=True)


def _left_mask(lengths: np.ndarray, width: int) -> np.ndarray:
    """True on the last ``lengths[r]`` columns of row r."""
    return np.arange(width)[None, :] >= (width - lengths)[:, None]


def _shift_right(rows: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Move each row's first lengths[r] entries to its end (right-padded -> left-padded)."""
    width = rows.shape[1]
    src = np.arange(width)[None, :] - (width - lengths)[:, None]
    return np.take_along_axis(rows, np.clip(src, 0, width - 1), axis=1)


def _shift_left(rows: np.ndarray, lengths: np.ndarray, fill: int) -> np.ndarray:
    """Move each row's last lengths[r] entries to its start and fill the rest."""
    width = rows.shape[1]
    src = np.arange(width)[None, :] + (width - lengths)[:, None]
    out = np.take_along_axis(rows, np.clip(src, 0, width - 1), axis=1)
    return np.where(np.arange(width)[None, :] < lengths[:, None], out, fill)


def alphafuse_len_seq(lengths: np.ndarray) -> np.ndarray:
    """AlphaFuse/DreamRec's len_seq: the number of real items, but 1 for the empty prefix."""
    return np.maximum(np.asarray(lengths), 1)


def embedding_rows(vectors, n_items: int, scheme: IdScheme, where: str = "",
                   allow_extra: bool = False) -> np.ndarray:
    """Embedding rows ordered by internal id: row r holds external id r + offset, i.e. internal r.

    Neither author stores a pad row. With ``allow_extra``, trailing rows beyond n_items are cut
    (LLM-ESR's id map keeps items whose users its last filter dropped); otherwise the row count
    must equal n_items.
    """
    vectors = np.asarray(vectors)
    if vectors.ndim != 2:
        vectors = np.stack([np.asarray(v) for v in vectors])
    if len(vectors) < n_items or (len(vectors) > n_items and not allow_extra):
        raise DataError(f"{where}: {len(vectors)} rows for {n_items} items ({scheme.name} ids "
                        f"{scheme.offset}..{n_items - 1 + scheme.offset}); the file belongs to another dataset")
    return vectors[:n_items].astype(np.float32)
