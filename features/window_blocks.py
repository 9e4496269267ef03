"""How ``features_at`` cuts a ``series x time`` matrix into cache-sized blocks.

The window kernels (``features.window_kernels``) make dozens of elementwise passes over the
bins they read; doing them in blocks of about ``BLOCK_CELLS`` cells laid out in one contiguous
array keeps those passes in the CPU cache. A block holds one or more *segments*: a run of bins
with ``halo`` bins in front for the windows to read; values computed on a segment's halo mix in
the previous segment and are never read. Every (row, output bin) falls in exactly one block, so
blocks can be computed on separate threads and write disjoint outputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

BLOCK_CELLS = 1 << 15  # cells per block: its dozen temporary arrays stay in the CPU caches


@dataclass
class Block:
    """A contiguous ``(segments, length)`` array of bins, and where its outputs sit.

    Output ``(i, j)`` (row ``rows.start + i``, origin ``outputs.start + j``) sits at a flat
    position ``segment * length + col``: in span mode each row is one segment and the outputs
    are its columns ``cols``; in window mode each (row, origin) is a segment of ``halo + 1``
    bins whose last bin is the output.
    """

    data: np.ndarray  # (segments, length), contiguous
    rows: slice
    outputs: slice
    cols: np.ndarray  # output columns within a segment
    n_rows: int
    n_out: int

    def __post_init__(self) -> None:
        self.flat = self.data.reshape(-1)
        self.consecutive = bool(self.cols[-1] - self.cols[0] == len(self.cols) - 1)

    def pick(self, arr: np.ndarray, back: int = 0) -> np.ndarray:
        """``(n_rows, n_out)``: ``arr[p - back]`` at each output's flat position ``p``.

        ``arr`` is contiguous and indexed like ``flat`` (or shorter, for arrays of pieces that
        start at each position). A read-only view when the outputs are consecutive bins.
        """
        segments, length = self.data.shape
        n_cols = len(self.cols)
        start = int(self.cols[0]) - back
        if not self.consecutive:
            index = (np.arange(segments) * length)[:, None] + (self.cols - back)[None, :]
            return arr[index].reshape(self.n_rows, self.n_out)
        if segments == 1:
            return arr[start : start + n_cols].reshape(self.n_rows, self.n_out)
        size = arr.itemsize
        view = np.ndarray(
            (segments, n_cols),
            arr.dtype,
            buffer=arr,
            offset=start * size,
            strides=(length * size, size),
        )
        return view.reshape(self.n_rows, self.n_out)


def cut_blocks(values: np.ndarray, bins: np.ndarray, halo: int) -> Iterator[Block]:
    """Blocks of about ``BLOCK_CELLS`` cells covering every (row, output bin) once."""
    n_rows = values.shape[0]
    k0 = 0
    while k0 < len(bins):
        # outputs whose span (plus halo) fits one block row
        k1 = int(np.searchsorted(bins, bins[k0] + max(BLOCK_CELLS - halo, 1), side="left"))
        k1 = max(k1, k0 + 1)
        chunk = bins[k0:k1]
        span = int(chunk[-1] - chunk[0]) + 1 + halo
        windowed = len(chunk) * (halo + 1)
        spanned = span <= windowed
        cols = chunk - chunk[0] + halo if spanned else np.array([halo], dtype=np.int64)
        n_block_rows = max(1, BLOCK_CELLS // (span if spanned else windowed))
        for r0 in range(0, n_rows, n_block_rows):
            r1 = min(n_rows, r0 + n_block_rows)
            if spanned:
                data = _span(values, r0, r1, int(chunk[0]) - halo, int(chunk[-1]) + 1)
            else:
                data = _windows(values, r0, r1, chunk, halo)
            yield Block(data, slice(r0, r1), slice(k0, k1), cols, r1 - r0, k1 - k0)
        k0 = k1


def _span(values: np.ndarray, r0: int, r1: int, lo: int, hi: int) -> np.ndarray:
    """Rows ``r0:r1`` over bins ``lo:hi``, contiguous, NaN before the grid's start."""
    if lo >= 0 and r1 - r0 == 1:
        return values[r0:r1, lo:hi]  # one row of a C-ordered matrix is contiguous already
    data = np.empty((r1 - r0, hi - lo))
    cut = max(0, -lo)
    data[:, :cut] = np.nan
    data[:, cut:] = values[r0:r1, lo + cut : hi]
    return data


def _windows(values: np.ndarray, r0: int, r1: int, chunk: np.ndarray, halo: int) -> np.ndarray:
    """For each row and output bin, the ``halo + 1`` bins ending at it (one segment each)."""
    idx = chunk[:, None] + np.arange(-halo, 1)[None, :]
    data = values[r0:r1][:, np.maximum(idx, 0)]
    if (idx < 0).any():
        data[:, idx < 0] = np.nan
    return data.reshape(-1, halo + 1)
