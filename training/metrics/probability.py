"""Scores of event probabilities: Brier score, Brier skill and the reliability table.

They take probabilities and 0/1 outcomes (arrays, lists or Polars series), not a prediction
frame, so that any event probability (an exceedance probability, a warning model) is scored
the same way; rows with an unknown outcome are dropped, a missing probability on a known
outcome raises.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl


def _float_array(x: Any) -> np.ndarray:
    if isinstance(x, pl.Series):
        return x.cast(pl.Float64).to_numpy().astype(float)
    return np.asarray(x, dtype=float)


def _probability_pairs(p: Any, outcome: Any) -> tuple[np.ndarray, np.ndarray]:
    """``p`` and 0/1 ``outcome`` on the rows whose outcome is known (null/NaN outcomes are
    dropped; a missing or out-of-range probability on a known outcome raises)."""
    o = _float_array(outcome).ravel()
    prob = _float_array(p)
    prob = np.full(o.shape, float(prob)) if prob.ndim == 0 else prob.ravel()
    if prob.shape != o.shape:
        raise ValueError("p and outcome must have the same length")
    keep = ~np.isnan(o)
    prob, o = prob[keep], o[keep]
    if np.isnan(prob).any():
        raise ValueError("probability missing (NaN/null) where the outcome is known")
    if ((prob < 0) | (prob > 1)).any():
        raise ValueError("probabilities must lie in [0, 1]")
    if not np.isin(o, (0.0, 1.0)).all():
        raise ValueError("outcome must be 0/1 (or boolean)")
    return prob, o


def brier_score(p: Any, outcome: Any) -> float:
    """Brier score ``mean (p - o)^2`` of event probabilities ``p`` against 0/1 outcomes ``o``
    (0 is perfect, 1 the worst). Arrays, lists or Polars series; rows with an unknown (null /
    NaN) outcome are dropped; ``nan`` when none is left."""
    prob, o = _probability_pairs(p, outcome)
    return float(np.mean((prob - o) ** 2)) if o.size else float("nan")


def brier_skill(p: Any, outcome: Any, reference_p: Any) -> float:
    """Brier skill score ``1 - BS(p) / BS(reference_p)`` on the same rows.

    ``reference_p`` is a probability per row or one number, usually climatology: the event's
    base rate in the *training* period (the base rate of the evaluated period itself would be
    an in-sample reference). 1 is perfect, 0 no better than the reference, negative worse;
    ``nan`` when the reference is itself perfect (score 0) or no row is left.
    """
    bs = brier_score(p, outcome)
    bs_ref = brier_score(reference_p, outcome)
    if not bs_ref > 0:
        return float("nan")
    return 1.0 - bs / bs_ref


def reliability_table(p: Any, outcome: Any, bins: int = 10) -> pl.DataFrame:
    """``bin, p_mean, observed_freq, n``: the data of a reliability diagram.

    Probabilities fall in ``bins`` equal-width bins; bin ``k`` holds ``k/bins <= p <
    (k+1)/bins`` (``p = 1`` in the last bin; the bin is ``floor(p * bins)`` in floating point).
    ``p_mean`` is the mean forecast probability in the bin, ``observed_freq`` the share of
    outcomes that happened; a calibrated forecast has them equal. Every bin is listed; an empty
    bin has ``n = 0`` and null ``p_mean`` and ``observed_freq``. Outcomes handled as in
    :func:`brier_score`.
    """
    if bins < 1:
        raise ValueError("bins must be at least 1")
    prob, o = _probability_pairs(p, outcome)
    idx = np.minimum((prob * bins).astype(int), bins - 1)
    n = np.bincount(idx, minlength=bins)
    p_sum = np.bincount(idx, weights=prob, minlength=bins)
    o_sum = np.bincount(idx, weights=o, minlength=bins)
    return pl.DataFrame(
        {
            "bin": np.arange(bins),
            "p_mean": [float(s / c) if c else None for s, c in zip(p_sum, n, strict=True)],
            "observed_freq": [float(s / c) if c else None for s, c in zip(o_sum, n, strict=True)],
            "n": n,
        },
        schema={"bin": pl.Int64, "p_mean": pl.Float64, "observed_freq": pl.Float64, "n": pl.Int64},
    )
