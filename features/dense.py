"""Dense grids as ``series x time`` matrices, and window features read from them by position.

Every grid the pipeline builds is dense and regular: each key holds the same run of time bins
from the same start, so a grid is a float matrix with NaN where a bin is null, and a feature at
(key, origin) is a function of one row's bins up to the origin's column. Lags are positional
reads; rolling statistics are computed in numpy, only over the bins that some requested
origin's window reads, instead of as Polars window expressions over the whole long grid.

This module owns the grids and ``features_at``, which runs the windows over cache-sized blocks
of the matrix (``features.window_blocks``) on threads; the numpy kernels that compute each
window over a block, bit-identical wherever the grid or the batch starts, are
``features.window_kernels``.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from features import window_blocks
from features.grid import Readings, dense_values, in_chunks, steps
from features.tasks import TaskConfig
from features.threads import thread_budget
from features.window_blocks import Block, cut_blocks
from features.window_kernels import STATS, BlockCache, Window, min_present, write_window

__all__ = [
    "STATS",
    "TargetGrid",
    "Window",
    "bin_index",
    "features_at",
    "fill_between_readings",
    "forward_fill",
    "min_present",
    "target_grid",
]


def bin_index(ts: pl.Series, start: datetime, step: timedelta) -> np.ndarray:
    """The grid bin of each time stamp (times are on the grid)."""
    step_us = int(step / timedelta(microseconds=1))
    start_us = int((start - datetime(1970, 1, 1, tzinfo=start.tzinfo)) / timedelta(microseconds=1))
    return ((ts.dt.epoch("us").to_numpy() - start_us) // step_us).astype(np.int64)


# ---------------------------------------------------------------- grids as matrices


def fill_between_readings(values: np.ndarray) -> np.ndarray:
    """An accumulation read less often than the grid (10-minute rain on a 5-minute grid): the
    bins after each reading up to the next expected one add nothing (0), so window sums count
    the readings the series has rather than failing the 80 %-present rule in every window. A
    row's cadence is the median gap between its readings; longer gaps stay missing. Only bins
    after a reading are filled, never before it, so nothing is known before it was reported.
    A new array."""
    out = values.copy()
    for i, row in enumerate(values):
        idx = np.flatnonzero(~np.isnan(row))
        if idx.size < 2:
            continue
        cadence = int(np.median(np.diff(idx)))
        for j in range(1, cadence):
            pos = idx + j
            pos = pos[pos < row.size]
            out[i, pos[np.isnan(out[i, pos])]] = 0.0
    return out


def forward_fill(values: np.ndarray, limit: int) -> np.ndarray:
    """Each row of ``values`` with a NaN bin taking the last present value at most ``limit``
    bins back (the grid rule for levels); a new array."""
    out = np.empty_like(values)
    if values.size == 0:
        return out
    n_rows, n_bins = values.shape
    per_block = max(1, window_blocks.BLOCK_CELLS // n_bins)  # one knob for all blocks

    def fill(part: slice) -> None:
        for r0 in range(part.start, part.stop, per_block):
            rows = slice(r0, min(part.stop, r0 + per_block))
            src, dst = values[rows], out[rows]
            dst[...] = src
            if limit <= 0:
                continue
            if limit <= 4:
                # nearest first: a bin still empty after k-1 looks k bins back
                for k in range(1, min(limit, n_bins - 1) + 1):
                    np.copyto(dst[:, k:], src[:, :-k], where=np.isnan(dst[:, k:]))
            else:
                _fill_from_last(src, dst, limit)

    in_chunks(n_rows, fill, size=max(1, (1 << 20) // n_bins))
    return out


def _fill_from_last(src: np.ndarray, dst: np.ndarray, limit: int) -> None:
    """``forward_fill`` for long limits: the index of the last present bin by a running max."""
    cols = np.arange(src.shape[1])
    last = np.where(np.isnan(src), -1, cols[None, :])
    np.maximum.accumulate(last, axis=1, out=last)
    fill = np.isnan(src) & (last >= 0) & (cols[None, :] - last <= limit)
    np.copyto(dst, np.take_along_axis(src, np.maximum(last, 0), axis=1), where=fill)


@dataclass(frozen=True)
class TargetGrid:
    """The task's targets on its grid: ``raw[i, j]`` is series ``ids[i]`` in the bin labelled
    ``start + j * step`` (NaN if null), ``now`` the same forward-filled up to ``fill_limit``."""

    ids: tuple[str, ...]
    start: datetime
    step: timedelta
    raw: np.ndarray
    now: np.ndarray


def target_grid(
    readings: Readings,
    target_ids: Sequence[str],
    task: TaskConfig,
    start: datetime,
    end: datetime,
) -> TargetGrid:
    """The one definition of the target on the grid, shared by the feature pipeline (lags and
    windows read ``now``, ``y`` reads ``raw``) and by ``TargetHistory`` for sequence models.

    Every target gets a row, even one without a single observation yet.
    """
    step = task.step
    ids = tuple(sorted(set(target_ids)))
    raw = dense_values(
        readings,
        ids,
        aggregation=task.features.aggregation_of(task.target.signal),
        step=step,
        start=start,
        end=end,
        signal=task.target.signal,
    )
    fill = steps(task.features.fill_limit, step)
    return TargetGrid(ids, start, step, raw, forward_fill(raw, fill))


# ---------------------------------------------------------------- window features


def features_at(
    values: np.ndarray, bins: np.ndarray, windows: Sequence[Window]
) -> dict[str, np.ndarray]:
    """Each window feature of every row of ``values`` at each bin of ``bins``.

    ``values`` is ``(n_rows, n_bins)`` with NaN for null; ``bins`` ascending, within the grid.
    Returns arrays
    ``(n_rows, len(bins))`` with NaN for null. Reads only bins at or before each origin's bin,
    and treats bins before the grid's start as null.
    """
    n_rows = values.shape[0]
    bins = np.asarray(bins, dtype=np.int64)
    out = {w.name: np.empty((n_rows, len(bins))) for w in windows}
    if not windows or n_rows == 0 or len(bins) == 0:
        return out
    halo = max(w.reach for w in windows)

    def run(block: Block) -> None:
        cache = BlockCache(block)
        for w in windows:
            target = out[w.name][block.rows, block.outputs]
            write_window(w, block, cache, target)
            if w.rounded:
                np.round(target, 9, out=target)

    blocks = list(cut_blocks(values, bins, halo))
    workers = min(len(blocks), thread_budget())
    if workers > 1:
        # numpy releases the GIL inside its loops, and blocks write disjoint outputs
        with ThreadPoolExecutor(workers) as pool:
            for _ in pool.map(run, blocks):
                pass
    else:
        for block in blocks:
            run(block)
    return out
