"""A global sequence model: an encoder over each series' recent target, a decoder per horizon.

One network for every series of a task. A sample is one series at one origin: the encoder
(an LSTM, or dilated causal convolutions with ``encoder: tcn``) reads the last ``context``
steps of the target from ``TargetHistory`` up to the origin and never past it, scaled per
series, with NaN set to 0 and a known/missing channel beside it. The encoder runs once per
(series, origin); every horizon row of that origin then gets the encoding plus its own row of
features (all of the feature spec's columns, standardised: origin-level ones such as lags and
rain sums repeat across horizons, horizon-varying ones such as ``horizon_min``, calendar at
``ts`` and known-ahead forecasts differ) and a learned embedding of the series. A two-layer
MLP and a non-crossing quantile head predict the change from ``target_now`` in the series'
scaled units (like ``gbm``'s ``target: delta``); outputs are scaled back, clipped to the
signal's physical range and sorted.

``batch_size`` and ``epoch_samples`` count samples (one series at one origin), not rows.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import polars as pl
import torch
from torch import nn

from features import TargetHistory
from models.neural import NeuralForecaster
from models.neural_data import Batchable, history_bins, scaled_windows
from models.neural_layers import Encoder, QuantileHead, mlp
from models.neural_params import COMMON_DEFAULTS

_EMBED = 8


class SequenceNet(nn.Module):
    def __init__(self, arch: dict[str, Any]) -> None:
        super().__init__()
        hidden, dropout = arch["hidden"], arch["dropout"]
        self.encoder = Encoder(arch["encoder"], arch["channels"], hidden, arch["steps"], dropout)
        self.embed = nn.Embedding(arch["codes"], _EMBED)
        self.decoder = mlp(hidden + arch["features"] + _EMBED, hidden, dropout)
        self.head = QuantileHead(hidden, arch["quantiles"])

    def forward(
        self, windows: torch.Tensor, local: torch.Tensor, x: torch.Tensor, code: torch.Tensor
    ) -> torch.Tensor:
        context = self.encoder(windows)[local]
        return self.head(self.decoder(torch.cat([context, x, self.embed(code)], dim=1)))


class SequenceForecaster(NeuralForecaster):
    family = "sequence"
    defaults: ClassVar[dict[str, Any]] = {**COMMON_DEFAULTS, "batch_size": 256}

    def _samples(
        self, rows: pl.DataFrame, history: TargetHistory
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One sample per (series, origin): the rows of all its horizons share one window."""
        hist_rows = history.rows(rows["series_id"])
        bins = history_bins(history, rows)
        keys = np.stack([hist_rows, bins], axis=1)
        if len(keys):
            unique, sample = np.unique(keys, axis=0, return_inverse=True)
        else:
            unique, sample = np.zeros((0, 2), np.int64), np.zeros(0, np.int64)
        windows = scaled_windows(history, self.scaler_, unique[:, 0], unique[:, 1], self.steps)
        return windows, sample.reshape(-1).astype(np.int64), np.zeros(rows.height, np.int64)

    def _build(self, arch: dict[str, Any]) -> nn.Module:
        return SequenceNet(arch)

    def _forward(
        self, net: nn.Module, data: Batchable, samples: np.ndarray, device: torch.device
    ) -> tuple[torch.Tensor, np.ndarray]:
        rows, local = data.rows_of(samples)
        windows = torch.from_numpy(data.windows[samples]).to(device)
        pred = net(
            windows,
            torch.from_numpy(local).to(device),
            torch.from_numpy(data.x[rows]).to(device),
            torch.from_numpy(data.code[rows]).to(device),
        )
        return pred, rows
