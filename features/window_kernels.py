"""Window features of one block of a dense grid: what each feature is, and how it is computed.

A ``Window`` names a feature read from a grid row at each origin bin; ``write_window`` computes
it over a ``features.window_blocks.Block`` with numpy, sharing intermediate arrays between the
windows of the block through a ``BlockCache``. How the windows are computed, and why:

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
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from features.grid import MIN_PRESENT
from features.window_blocks import Block

_EPS = np.finfo(np.float64).eps

STATS = ("sum", "mean", "std", "min", "max", "quantile")


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


class BlockCache:
    """What the windows of one block share: presence counts, values with nulls as 0, and the
    power-of-two pieces of each summation tree and of the minima and maxima."""

    def __init__(self, block: Block) -> None:
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


def write_window(w: Window, block: Block, cache: BlockCache, out: np.ndarray) -> None:
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


def _std(cache: BlockCache, n: int, count: np.ndarray, out: np.ndarray) -> None:
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


def _quantile(block: Block, n: int, q: float) -> np.ndarray:
    """Linear-interpolated quantile of the present values (rare: a plain numpy reduction)."""
    windows = np.lib.stride_tricks.sliding_window_view(block.flat, n)
    picked = block.pick(np.arange(windows.shape[0]), n - 1)
    with warnings.catch_warnings():
        # all-NaN windows warn; the 80 % rule nulls them anyway
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanquantile(windows[picked], q, axis=-1, method="linear")


def _antecedent(w: Window, cache: BlockCache) -> np.ndarray:
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


def _hours_since(w: Window, block: Block, cache: BlockCache, out: np.ndarray) -> None:
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
