"""Dense grids as ``series x time`` matrices, and window features read from them by position.

Every grid the pipeline builds is dense and regular: each key holds the same run of time bins
from the same start, so a grid is a float matrix with NaN where a bin is null, and a feature at
(key, origin) is a function of one row's bins up to the origin's column. Lags are positional
reads; rolling statistics are computed here in numpy, only over the bins that some requested
origin's window reads, instead of as Polars window expressions over the whole long grid.

How the windows are computed, and why:

- Sums use a fixed summation tree: the sum of ``2**(k+1)`` bins is the sum of two ``2**k``
  halves, and a window of ``n`` bins adds the power-of-two pieces of ``n`` in a fixed order. The
  result depends only on the values in the window, never on where the grid or the batch
  started, so a batch long after ``t`` and serving at ``t`` compute bit-identical sums (a
  running sum carries residue of values that left the window long ago).
- Minima and maxima take two overlapping power-of-two pieces (exact, order-free).
- Counts of present bins come from an integer cumulative sum (exact), for the rule that a
  window needs 80 % of its bins.
- The standard deviation uses sums of values shifted by a reference near them (one per
  segment), which keeps the usual ``sum of squares`` cancellation small, and reports 0 where
  what is left is rounding noise (a constant window has a deviation of exactly 0).
- Work is done in blocks of about ``_BLOCK`` cells laid out in one contiguous array, so that the
  dozens of elementwise passes stay in the CPU cache. A block holds one or more *segments*: a
  run of bins with ``halo`` bins in front for the windows to read; values computed on a
  segment's halo mix in the previous segment and are never read.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from features.grid import MIN_PRESENT, THREADS, Readings, dense_values, in_chunks, steps
from features.schemas import SIGNALS
from features.tasks import TaskConfig

_BLOCK = 1 << 15  # cells per block: its dozen temporary arrays stay in the CPU caches
_EPS = np.finfo(np.float64).eps

STATS = ("sum", "mean", "std", "min", "max", "quantile")


def bin_index(ts: pl.Series, start: datetime, step: timedelta) -> np.ndarray:
    """The grid bin of each time stamp (times are on the grid)."""
    step_us = int(step / timedelta(microseconds=1))
    start_us = int((start - datetime(1970, 1, 1, tzinfo=start.tzinfo)) / timedelta(microseconds=1))
    return ((ts.dt.epoch("us").to_numpy() - start_us) // step_us).astype(np.int64)


# ---------------------------------------------------------------- grids as matrices


def forward_fill(values: np.ndarray, limit: int) -> np.ndarray:
    """Each row of ``values`` with a NaN bin taking the last present value at most ``limit``
    bins back (the grid rule for levels); a new array."""
    out = np.empty_like(values)
    if values.size == 0:
        return out
    n_rows, n_bins = values.shape
    per_block = max(1, _BLOCK // n_bins)

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
    spec = SIGNALS.get(task.target.signal)
    ids = tuple(sorted(set(target_ids)))
    raw = dense_values(
        readings,
        ids,
        aggregation=spec.aggregation if spec else "last",
        step=step,
        start=start,
        end=end,
    )
    fill = steps(task.features.fill_limit, step)
    return TargetGrid(ids, start, step, raw, forward_fill(raw, fill))


# ---------------------------------------------------------------- window features


@dataclass(frozen=True)
class Window:
    """One feature read from a grid row at each origin bin ``b``.

    ``kind``: ``value`` (bin ``b``), ``lag`` (bin ``b - n``), ``change`` (``b`` minus ``b - n``),
    one of ``STATS`` over the ``n`` bins ending at ``b`` (null unless 80 % are present; ``std``
    also needs two), ``api`` (antecedent precipitation index over ``n`` days of ``per_day``
    bins, weight ``k``), or ``dry`` (hours since the value last exceeded ``threshold`` within
    ``n`` bins of ``hours`` each, capped at ``cap_hours``).
    ``rounded``: to 9 decimals, as the Polars window expressions of ``features.grid`` do.
    """

    name: str
    kind: str
    n: int = 0
    rounded: bool = False
    q: float | None = None
    per_day: int = 0
    k: float = 0.0
    hours: float = 0.0
    cap_hours: float = 0.0
    threshold: float = 0.1

    @property
    def reach(self) -> int:
        """How many bins before ``b`` the feature reads."""
        if self.kind in ("value",):
            return 0
        if self.kind in ("lag", "change"):
            return self.n
        if self.kind == "api":
            return self.n * self.per_day - 1
        return self.n - 1


def min_present(n: int, stat: str = "") -> int:
    """Present bins a window of ``n`` needs (80 %; two at least for a deviation)."""
    need = max(1, math.ceil(MIN_PRESENT * n))
    return max(2, need) if stat == "std" else need


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

    def run(block: _Block) -> None:
        cache = _BlockCache(block)
        for w in windows:
            target = out[w.name][block.rows, block.outputs]
            _write(w, block, cache, target)
            if w.rounded:
                np.round(target, 9, out=target)

    blocks = list(_blocks(values, bins, halo))
    workers = min(len(blocks), THREADS)
    if workers > 1:
        # numpy releases the GIL inside its loops, and blocks write disjoint outputs
        with ThreadPoolExecutor(workers) as pool:
            for _ in pool.map(run, blocks):
                pass
    else:
        for block in blocks:
            run(block)
    return out


@dataclass
class _Block:
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


def _blocks(values: np.ndarray, bins: np.ndarray, halo: int) -> Iterator[_Block]:
    """Blocks of about ``_BLOCK`` cells covering every (row, output bin) once."""
    n_rows = values.shape[0]
    k0 = 0
    while k0 < len(bins):
        # outputs whose span (plus halo) fits one block row
        k1 = int(np.searchsorted(bins, bins[k0] + max(_BLOCK - halo, 1), side="left"))
        k1 = max(k1, k0 + 1)
        chunk = bins[k0:k1]
        span = int(chunk[-1] - chunk[0]) + 1 + halo
        windowed = len(chunk) * (halo + 1)
        spanned = span <= windowed
        cols = chunk - chunk[0] + halo if spanned else np.array([halo], dtype=np.int64)
        n_block_rows = max(1, _BLOCK // (span if spanned else windowed))
        for r0 in range(0, n_rows, n_block_rows):
            r1 = min(n_rows, r0 + n_block_rows)
            if spanned:
                data = _span(values, r0, r1, int(chunk[0]) - halo, int(chunk[-1]) + 1)
            else:
                data = _windows(values, r0, r1, chunk, halo)
            yield _Block(data, slice(r0, r1), slice(k0, k1), cols, r1 - r0, k1 - k0)
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


class _BlockCache:
    """What the windows of one block share: presence counts, values with nulls as 0, and the
    power-of-two pieces of each summation tree and of the minima and maxima."""

    def __init__(self, block: _Block) -> None:
        self.block = block
        self._missing: np.ndarray | None = None
        self._cum_missing: np.ndarray | None = None
        self._counts: dict[int, np.ndarray] = {}
        self._short: dict[tuple[int, int], np.ndarray] = {}
        self._arrays: dict[str, np.ndarray] = {}
        self._levels: dict[tuple[str, int], np.ndarray] = {}

    @property
    def missing(self) -> np.ndarray:
        if self._missing is None:
            self._missing = np.isnan(self.block.flat)
        return self._missing

    def short(self, n: int, stat: str) -> np.ndarray:
        """Where a window of ``n`` has too few present bins for ``stat`` (shared by the
        statistics over the same window)."""
        need = min_present(n, stat)
        if (n, need) not in self._short:
            self._short[(n, need)] = self.count(n) < need
        return self._short[(n, need)]

    def count(self, n: int) -> np.ndarray:
        """Present bins among the ``n`` ending at each output (exact integer differences)."""
        if n not in self._counts:
            if self._cum_missing is None:
                self._cum_missing = np.zeros(self.block.flat.size + 1, dtype=np.int32)
                np.cumsum(self.missing, out=self._cum_missing[1:])
            b, cum = self.block, self._cum_missing
            gaps = b.pick(cum[1:]) - b.pick(cum, n - 1)
            self._counts[n] = np.subtract(n, gaps, out=gaps)
        return self._counts[n]

    def array(self, name: str) -> np.ndarray:
        """``zero``: the values with null as 0; ``dev``/``dev2``: present values minus a
        reference near each segment's values (0 where null), and their squares."""
        if name not in self._arrays:
            if name == "zero":
                arr = np.where(self.missing, 0.0, self.block.flat)
            elif name == "dev":
                data = self.block.data
                arr = np.subtract(data, _reference(data)[:, None]).reshape(-1)
                np.copyto(arr, 0.0, where=self.missing)
            else:
                dev = self.array("dev")
                arr = np.multiply(dev, dev)
            self._arrays[name] = arr
        return self._arrays[name]

    def level(self, name: str, k: int, op: np.ufunc) -> np.ndarray:
        """``op`` over the ``2**k`` bins starting at each position (positions that fit)."""
        key = (name, k)
        if key not in self._levels:
            if k == 0:
                base = self.block.flat if name in ("min", "max") else self.array(name)
                self._levels[key] = base
            else:
                half = self.level(name, k - 1, op)
                width = 1 << (k - 1)
                self._levels[key] = op(half[:-width], half[width:])
        return self._levels[key]

    def window_sum(self, name: str, n: int) -> np.ndarray:
        """Sum of ``name`` over the ``n`` bins ending at each output: pieces of ``n``'s bits,
        largest first, added left to right (a fixed tree). May be a read-only view."""
        total: np.ndarray | None = None
        owned = False
        offset = 0
        for k in reversed(range(n.bit_length())):
            if not n >> k & 1:
                continue
            piece = self.block.pick(self.level(name, k, np.add), n - 1 - offset)
            if total is None:
                total = piece
            elif owned:
                np.add(total, piece, out=total)
            else:
                total, owned = np.add(total, piece), True
            offset += 1 << k
        assert total is not None
        return total

    def window_extreme(self, n: int, op: np.ufunc, out: np.ndarray) -> None:
        """``op`` (``np.fmin``/``np.fmax``, which skip NaN) over the ``n`` bins ending at each
        output: two overlapping power-of-two pieces."""
        k = n.bit_length() - 1
        level = self.level("min" if op is np.fmin else "max", k, op)
        op(self.block.pick(level, n - 1), self.block.pick(level, (1 << k) - 1), out=out)


def _write(w: Window, block: _Block, cache: _BlockCache, out: np.ndarray) -> None:
    """Window ``w`` at the block's outputs into ``out`` (``(n_rows, n_out)``, NaN for null)."""
    flat = block.flat
    if w.kind == "value":
        out[...] = block.pick(flat)
    elif w.kind == "lag":
        out[...] = block.pick(flat, w.n)
    elif w.kind == "change":
        np.subtract(block.pick(flat), block.pick(flat, w.n), out=out)
    elif w.kind == "api":
        out[...] = _antecedent(w, cache)
    elif w.kind == "dry":
        _hours_since(w, block, cache, out)
    elif w.kind in STATS:
        count = cache.count(w.n)
        if w.kind == "sum":
            out[...] = cache.window_sum("zero", w.n)
        elif w.kind == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):
                np.divide(cache.window_sum("zero", w.n), count, out=out)
        elif w.kind == "std":
            _std(cache, w.n, count, out)
        elif w.kind in ("min", "max"):
            cache.window_extreme(w.n, np.fmin if w.kind == "min" else np.fmax, out)
        else:
            out[...] = _quantile(block, w.n, w.q or 0.5)
        np.copyto(out, np.nan, where=cache.short(w.n, w.kind))
    else:
        raise ValueError(f"unknown window statistic {w.kind!r}")


def _std(cache: _BlockCache, n: int, count: np.ndarray, out: np.ndarray) -> None:
    """Sample standard deviation (ddof 1) from shifted sums; 0 where the spread left is within
    the rounding noise of the sums (a constant window gives exactly 0)."""
    s1 = cache.window_sum("dev", n)
    s2 = cache.window_sum("dev2", n)
    k = count.astype(np.float64)
    m2 = np.multiply(s1, s1)
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(m2, k, out=m2)
        np.subtract(s2, m2, out=m2)
        np.copyto(m2, 0.0, where=m2 <= s2 * (8 * n * _EPS))
        np.subtract(k, 1.0, out=k)
        np.divide(m2, k, out=m2)
        np.sqrt(m2, out=out)


def _reference(data: np.ndarray) -> np.ndarray:
    """Per segment, a value near its values to shift them by before summing squares (the mean
    of a sample of its bins; 0 if none is present): it only has to be near, not exact."""
    sample = data[:, :: max(1, data.shape[1] // 64)]
    present = ~np.isnan(sample)
    count = present.sum(axis=1)
    total = np.where(present, sample, 0.0).sum(axis=1)
    return total / np.maximum(count, 1)


def _quantile(block: _Block, n: int, q: float) -> np.ndarray:
    """Linear-interpolated quantile of the present values (rare: a plain numpy reduction)."""
    windows = np.lib.stride_tricks.sliding_window_view(block.flat, n)
    picked = block.pick(np.arange(windows.shape[0]), n - 1)
    with warnings.catch_warnings():
        # all-NaN windows warn; the 80 % rule nulls them anyway
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanquantile(windows[picked], q, axis=-1, method="linear")


def _antecedent(w: Window, cache: _BlockCache) -> np.ndarray:
    """Sum over d < n days of k**d x (24 h sum ending d days back), as
    ``features.grid.antecedent_index`` writes it: each cumulative sum rounded and 80 % ruled."""

    def ruled_sum(bins: int) -> np.ndarray:
        s = np.round(cache.window_sum("zero", bins), 9)  # a new array
        np.copyto(s, np.nan, where=cache.count(bins) < min_present(bins))
        return s

    total: np.ndarray | None = None
    before: np.ndarray | float = 0.0
    for d in range(w.n):
        upto = ruled_sum((d + 1) * w.per_day)
        term = (w.k**d) * (upto - before)
        total = 0.0 + term if total is None else total + term
        before = upto
    assert total is not None
    return np.round(total, 9)


def _hours_since(w: Window, block: _Block, cache: _BlockCache, out: np.ndarray) -> None:
    """Hours since the value last exceeded the threshold within ``n`` bins, capped; null if
    the whole window is missing (``features.grid.hours_since``)."""
    flat = block.flat
    positions = np.arange(flat.size)
    with np.errstate(invalid="ignore"):
        wet = flat > w.threshold
    last = np.maximum.accumulate(np.where(wet, positions, -1))
    last_wet = block.pick(last)
    gap = block.pick(positions) - last_wet
    hours = np.minimum(gap * w.hours, w.cap_hours)
    out[...] = np.where((last_wet < 0) | (gap > w.n - 1), w.cap_hours, hours)
    np.copyto(out, np.nan, where=cache.count(w.n) == 0)
