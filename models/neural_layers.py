"""The network pieces both neural families build from, and the loss they train on.

An encoder of the target window (an LSTM, or dilated causal convolutions), a small MLP, and a
quantile head whose outputs cannot cross and which starts as persistence (no change), trained
on the weighted pinball loss of the task's quantiles. The families assemble these into their
networks (:mod:`models.sequence`, :mod:`models.graph`); nothing here knows about data frames.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

_MAX_TCN_LAYERS = 8


def pinball_loss(
    pred: torch.Tensor, target: torch.Tensor, quantiles: torch.Tensor, weight: torch.Tensor
) -> torch.Tensor:
    """Weighted mean pinball loss; ``pred`` is ``(n, k)``, ``target`` and ``weight`` ``(n,)``."""
    diff = target[:, None] - pred
    loss = torch.maximum(quantiles * diff, (quantiles - 1.0) * diff).mean(dim=1)
    return (loss * weight).sum() / weight.sum().clamp_min(1e-12)


class QuantileHead(nn.Module):
    """Non-crossing quantiles: a median plus cumulative positive steps either side. The last
    layer starts at zero, so an untrained model forecasts no change (persistence)."""

    def __init__(self, width: int, quantiles: tuple[float, ...]) -> None:
        super().__init__()
        self.mid = int(np.argmin([abs(q - 0.5) for q in quantiles]))
        self.n = len(quantiles)
        self.linear = nn.Linear(width, self.n)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        raw = self.linear(h)
        mid = raw[:, self.mid : self.mid + 1]
        steps = nn.functional.softplus(raw) * 0.5
        up = mid + torch.cumsum(steps[:, self.mid + 1 :], dim=1)
        down = mid - torch.cumsum(steps[:, : self.mid].flip(1), dim=1).flip(1)
        return torch.cat([down, mid, up], dim=1)


class Encoder(nn.Module):
    """``(batch, steps, channels) -> (batch, hidden)``: an LSTM's last state, or a stack of
    dilated causal convolutions read at the last step."""

    def __init__(self, kind: str, channels: int, hidden: int, steps: int, dropout: float):
        super().__init__()
        self.kind = kind
        if kind == "lstm":
            self.rnn = nn.LSTM(channels, hidden, batch_first=True)
        else:
            layers: list[nn.Module] = []
            width, dilation, reach = channels, 1, 1
            while True:  # kernel 3, dilations 1, 2, 4, ...: until the stack sees every step
                layers += [_CausalConv(width, hidden, dilation), nn.GELU(), nn.Dropout(dropout)]
                width, reach = hidden, reach + 2 * dilation
                if reach >= steps or len(layers) >= 3 * _MAX_TCN_LAYERS:
                    break
                dilation *= 2
            self.tcn = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "lstm":
            _, (h, _) = self.rnn(x)
            return h[-1]
        return self.tcn(x.transpose(1, 2))[:, :, -1]


class _CausalConv(nn.Module):
    def __init__(self, c_in: int, c_out: int, dilation: int) -> None:
        super().__init__()
        self.pad = 2 * dilation
        self.conv = nn.Conv1d(c_in, c_out, kernel_size=3, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(nn.functional.pad(x, (self.pad, 0)))


def mlp(width_in: int, hidden: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(width_in, hidden),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, hidden),
        nn.GELU(),
        nn.Dropout(dropout),
    )
