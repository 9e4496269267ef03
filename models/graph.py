"""A graph model: every series at one origin is one sample, mixed over the road graph.

Made for traffic, where congestion spills from a sensor onto its neighbours. The same
encoder as the sequence family (``models.sequence``) reads each series' recent target up to
the origin; a learned embedding per node is added; then ``graph_steps`` rounds of diffusion
convolution (as in DCRNN) mix the encodings over the graph: ``k`` hops forward along the
adjacency and ``k`` hops back along its transpose, each with its own weights, added to the
node's own state. The decoder is the sequence family's: per row, the node's mixed state, the
row's features and the series embedding, to non-crossing quantiles of the change from
``target_now``.

The graph comes from the series catalog that rides along with the history
(``history.series``, JSON ``attrs``): series ``i`` links to each id listed under the
``graph_key`` attribute (by default the key of the task's ``members:<key>`` covariate, else
``neighbours``). Both directions are row-normalised with self loops, so a series without
neighbours keeps its own state, and a catalog without any graph attributes gives the
identity: the model then is a per-origin version of the sequence model.

``batch_size`` and ``epoch_samples`` count origins (each with every series), not rows.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import numpy as np
import polars as pl
import torch
from torch import nn

from features import ConfigError, DataError, FeatureSpec, TargetHistory, TaskConfig
from models.neural import NeuralForecaster
from models.neural_data import Batchable, history_bins, scaled_windows
from models.neural_layers import Encoder, QuantileHead, mlp
from models.neural_params import COMMON_DEFAULTS

_EMBED = 8


def adjacency(series: pl.DataFrame, nodes: tuple[str, ...], key: str) -> np.ndarray:
    """``a[i, j] = 1`` where node ``j`` is listed under ``attrs[key]`` of node ``i`` (ids that
    are not nodes, and a node listing itself, are ignored)."""
    pos = {s: i for i, s in enumerate(nodes)}
    a = np.zeros((len(nodes), len(nodes)), dtype=np.float32)
    if "attrs" not in series.columns:
        return a
    for sid, raw in series.select("series_id", "attrs").iter_rows():
        i = pos.get(sid)
        if i is None or not raw:
            continue
        try:
            attrs = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DataError(f"series {sid}: attrs is not JSON ({exc})") from exc
        listed = attrs.get(key) if isinstance(attrs, dict) else None
        if isinstance(listed, str):
            listed = [listed]
        for other in listed or []:
            j = pos.get(other)
            if j is not None and j != i:
                a[i, j] = 1.0
    return a


def row_normalised(a: np.ndarray) -> np.ndarray:
    """``a`` with self loops, each row summing to one."""
    with_loops = a + np.eye(len(a), dtype=a.dtype)
    return with_loops / with_loops.sum(axis=1, keepdims=True)


def default_graph_key(task: TaskConfig) -> str:
    for cov in task.features.observed:
        if cov.link.startswith("members:"):
            return cov.link.removeprefix("members:")
    return "neighbours"


class GraphNet(nn.Module):
    forward_adj: torch.Tensor  # buffers, registered in __init__
    backward_adj: torch.Tensor

    def __init__(self, arch: dict[str, Any]) -> None:
        super().__init__()
        hidden, dropout, n = arch["hidden"], arch["dropout"], arch["nodes"]
        self.hops = arch["graph_steps"]
        self.encoder = Encoder(arch["encoder"], arch["channels"], hidden, arch["steps"], dropout)
        self.node = nn.Embedding(n, hidden)
        nn.init.normal_(self.node.weight, std=0.1)
        self.register_buffer("forward_adj", torch.eye(n))
        self.register_buffer("backward_adj", torch.eye(n))
        self.mix = nn.Linear(hidden * (1 + 2 * self.hops), hidden)
        self.norm = nn.LayerNorm(hidden)
        self.drop = nn.Dropout(dropout)
        self.embed = nn.Embedding(arch["codes"], _EMBED)
        self.decoder = mlp(hidden + arch["features"] + _EMBED, hidden, dropout)
        self.head = QuantileHead(hidden, arch["quantiles"])

    def diffuse(self, h: torch.Tensor) -> torch.Tensor:
        """``(batch, nodes, hidden)`` -> the same, mixed over ``hops`` hops both ways."""
        parts, fwd, bwd = [h], h, h
        for _ in range(self.hops):
            fwd = torch.einsum("ij,bjh->bih", self.forward_adj, fwd)
            bwd = torch.einsum("ij,bjh->bih", self.backward_adj, bwd)
            parts += [fwd, bwd]
        return self.norm(h + self.drop(nn.functional.gelu(self.mix(torch.cat(parts, dim=-1)))))

    def forward(
        self,
        windows: torch.Tensor,
        local: torch.Tensor,
        node: torch.Tensor,
        x: torch.Tensor,
        code: torch.Tensor,
    ) -> torch.Tensor:
        b, n, steps, channels = windows.shape
        h = self.encoder(windows.reshape(b * n, steps, channels)).reshape(b, n, -1)
        h = self.diffuse(h + self.node.weight[None])
        state = h[local, node]
        return self.head(self.decoder(torch.cat([state, x, self.embed(code)], dim=1)))


class GraphForecaster(NeuralForecaster):
    family = "graph"
    defaults: ClassVar[dict[str, Any]] = {
        **COMMON_DEFAULTS,
        "batch_size": 8,
        "epoch_samples": 256,
        "graph_steps": 2,
        "graph_key": None,
    }

    def __init__(self, *, task: TaskConfig, spec: FeatureSpec, **params: Any) -> None:
        super().__init__(task=task, spec=spec, **params)
        hops = self.config["graph_steps"]
        if not isinstance(hops, int) or isinstance(hops, bool) or hops < 0:
            raise ConfigError(
                "graph_steps must be a non-negative integer", key="model.params.graph_steps"
            )
        key = self.config["graph_key"]
        if key is not None and not (isinstance(key, str) and key):
            raise ConfigError("graph_key must be an attrs key", key="model.params.graph_key")
        self.graph_key = key or default_graph_key(task)
        self.nodes_: tuple[str, ...] = ()
        self.adjacency_: np.ndarray | None = None

    def _prepare_fit(self, history: TargetHistory) -> None:
        self.nodes_ = tuple(history.series_ids)
        self.adjacency_ = adjacency(history.series, self.nodes_, self.graph_key)

    def _extra_arch(self) -> dict[str, Any]:
        return {"nodes": len(self.nodes_), "graph_steps": int(self.config["graph_steps"])}

    def _build(self, arch: dict[str, Any]) -> nn.Module:
        net = GraphNet(arch)
        if self.adjacency_ is not None:
            net.forward_adj.copy_(torch.from_numpy(row_normalised(self.adjacency_)))
            net.backward_adj.copy_(torch.from_numpy(row_normalised(self.adjacency_.T.copy())))
        return net

    def _samples(
        self, rows: pl.DataFrame, history: TargetHistory
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One sample per origin, holding the windows of every fitted node (a node absent from
        this history reads as all missing)."""
        pos = {s: i for i, s in enumerate(self.nodes_)}
        ids = rows["series_id"].to_list()
        unknown = sorted({s for s in ids if s not in pos})
        if unknown:
            raise DataError(f"the graph model was not fitted on series {unknown[:5]}")
        node = np.array([pos[s] for s in ids], dtype=np.int64)
        bins = history_bins(history, rows)
        origins, sample = np.unique(bins, return_inverse=True)
        n = len(self.nodes_)
        windows = np.zeros((len(origins), n, self.steps, 2), dtype=np.float32)
        held = {s: i for i, s in enumerate(history.series_ids)}
        present = np.array([i for i, s in enumerate(self.nodes_) if s in held], dtype=np.int64)
        if len(origins) and len(present):
            hist_rows = np.array([held[self.nodes_[i]] for i in present], dtype=np.int64)
            flat = scaled_windows(
                history,
                self.scaler_,
                np.tile(hist_rows, len(origins)),
                np.repeat(origins, len(present)),
                self.steps,
            )
            windows[:, present] = flat.reshape(len(origins), len(present), self.steps, 2)
        return windows, sample.reshape(-1).astype(np.int64), node

    def _forward(
        self, net: nn.Module, data: Batchable, samples: np.ndarray, device: torch.device
    ) -> tuple[torch.Tensor, np.ndarray]:
        rows, local = data.rows_of(samples)
        pred = net(
            torch.from_numpy(data.windows[samples]).to(device),
            torch.from_numpy(local).to(device),
            torch.from_numpy(data.node[rows]).to(device),
            torch.from_numpy(data.x[rows]).to(device),
            torch.from_numpy(data.code[rows]).to(device),
        )
        return pred, rows
