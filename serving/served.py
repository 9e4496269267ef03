"""What actually serves a domain, read off the loaded model rather than its task config.

A task config names the family it tunes (``model.family: lightgbm``), but the champion the
registry holds may be another family that won the backtest, wrapped in its calibration, or an
ensemble of several. ``/v1/models`` and the metrics say what answers, from the object itself.
"""

from __future__ import annotations

from typing import Any

from models import CalibratedForecaster, EnsembleForecaster


def describe(forecaster: Any) -> dict[str, Any]:
    """``family``, ``calibration`` (``scale`` or None) and ``members`` (an ensemble's
    families, weights in order) of a loaded forecaster."""
    calibration = None
    inner = forecaster
    if isinstance(inner, CalibratedForecaster):
        calibration, inner = "scale", inner.inner
    members: list[dict[str, Any]] = []
    if isinstance(inner, EnsembleForecaster):
        members = [
            {"family": describe(m)["family"], "weight": round(float(w), 4)}
            for m, w in zip(inner.members, inner.weights, strict=True)
        ]
    return {
        "family": str(getattr(inner, "family", type(inner).__name__)),
        "calibration": calibration,
        "members": members,
    }
