"""The estimator both neural families (``sequence``, ``graph``) share: fit, predict, pickling.

Both families learn the same thing: from the last ``context`` steps of the target (read from
``TargetHistory``, never past a row's origin) and the row's features, the change from
``target_now`` to the target at ``origin + horizon``, in per-series scaled units, as one output
per task quantile. They differ only in what one training sample is (one series at one origin,
or every series at one origin) and in the network. What they share is here (device and
threads, seeding, the training loop with early stopping on a time-ordered validation tail,
pickling, and turning network outputs into a Forecast) and beside it: the parameters in
:mod:`models.neural_params`, scaling and samples in :mod:`models.neural_data`, the layers and
the pinball loss in :mod:`models.neural_layers`.

Models are pickled into MLflow with their fitted scalers; ``SeriesScaler`` and
``FeatureScaler`` are imported here by those names, so pickles that name them in
``models.neural`` (written before they moved to :mod:`models.neural_data`) still load.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, ClassVar, Self

import numpy as np
import polars as pl
import torch
from torch import nn

from features import SIGNALS, FeatureSpec, TargetHistory, TaskConfig, thread_budget
from models.gbm import _down_sample_quiet

# the scalers are pickled with fitted models: older pickles name them in this module
from models.neural_data import Batchable, FeatureScaler, SeriesScaler
from models.neural_layers import pinball_loss
from models.neural_params import context_steps, resolve_params
from models.protocol import FORECAST_KEYS, require_fitted, require_history, training_rows
from models.quantiles import monotone, quantile_column

log = logging.getLogger(__name__)


# --- device, threads, seeding -------------------------------------------------------------


def pick_device() -> torch.device:
    """CUDA when present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@contextlib.contextmanager
def torch_threads() -> Iterator[int]:
    """Run torch on at most half the cores this process may use (at most 4), then restore the
    caller's setting. Small recurrent networks gain little from more threads, and on a busy or
    shared machine oversubscribed threads spin-wait: 2 threads on 2 shared cores ran an LSTM
    batch 4x slower than 1."""
    cores = thread_budget()
    before = torch.get_num_threads()
    wanted = max(1, min(4, cores // 2))
    torch.set_num_threads(wanted)
    try:
        yield wanted
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[np.random.Generator]:
    """Seed torch inside a forked RNG (the caller's global state is left as it was) and hand
    out a numpy generator for shuffling."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield np.random.default_rng(seed)


# --- the estimator both families share ------------------------------------------------------


class NeuralForecaster:
    """Fit/predict plumbing; subclasses say what a sample is and which network to build."""

    family = "neural"
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, *, task: TaskConfig, spec: FeatureSpec, **params: Any) -> None:
        self.task, self.spec = task, spec
        self.config = resolve_params(params, self.defaults, self.family)
        self.steps = context_steps(self.config["context"], task.step)
        self.history_span: timedelta = self.steps * task.step
        self.features = tuple(c for c in spec.columns if c != "series_code")
        self.state_: dict[str, np.ndarray] | None = None
        self.arch_: dict[str, Any] = {}
        self.fit_log_: list[dict[str, float]] = []
        self._net: nn.Module | None = None

    def params(self) -> dict[str, Any]:
        return dict(self.config)

    # subclass hooks
    def _samples(
        self, rows: pl.DataFrame, history: TargetHistory
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``windows, sample_of_row, node_of_row`` for these rows."""
        raise NotImplementedError

    def _build(self, arch: dict[str, Any]) -> nn.Module:
        raise NotImplementedError

    def _prepare_fit(self, history: TargetHistory) -> None:
        """Learn whatever the family needs from the training history (besides scaling)."""

    def _forward(
        self, net: nn.Module, data: Batchable, samples: np.ndarray, device: torch.device
    ) -> tuple[torch.Tensor, np.ndarray]:
        raise NotImplementedError

    # shared plumbing
    def _batchable(
        self,
        rows: pl.DataFrame,
        history: TargetHistory,
        *,
        train: bool,
        weight: np.ndarray | None = None,
    ) -> Batchable:
        windows, sample, node = self._samples(rows, history)
        codes = self.spec.series_codes
        unknown = len(codes)
        code = np.array([codes.get(s, unknown) for s in rows["series_id"].to_list()], np.int64)
        base, scale = self._base_scale(rows)
        data = Batchable(windows, self.features_.transform(rows), code, node, sample)
        if train:
            y = rows["y"].to_numpy().astype(np.float64)
            data.y = ((y - base) / scale).astype(np.float32)
            data.weight = (np.ones(rows.height) if weight is None else weight).astype(np.float32)
        return data

    def _base_scale(self, rows: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """What the output is added to (``target_now``, else the series' training mean) and
        the series scale it is multiplied by."""
        idx = self.scaler_.index(rows["series_id"].to_list())
        now = rows["target_now"].cast(pl.Float64).to_numpy().astype(np.float64)
        base = np.where(np.isfinite(now), now, self.scaler_.loc[idx])
        return base, self.scaler_.scale[idx]

    def fit(self, frame: pl.DataFrame, history: TargetHistory | None = None) -> Self:
        hist = require_history(history, self.family)
        started = time.perf_counter()
        rows = training_rows(frame)
        rows, weight = _down_sample_quiet(rows, self.task)
        self.scaler_ = SeriesScaler.fit(hist)
        self.features_ = FeatureScaler.fit(rows, self.features)
        self._prepare_fit(hist)
        train_rows, val_rows = _time_split(rows, float(self.config["validation"]))
        device = pick_device()
        with torch_threads(), seeded(self.task.train.seed, device) as rng:
            train = self._batchable(rows[train_rows], hist, train=True, weight=weight[train_rows])
            val = self._batchable(rows[val_rows], hist, train=True, weight=weight[val_rows])
            self.arch_ = {
                "channels": 2,
                "steps": self.steps,
                "features": self.features_.width,
                "codes": len(self.spec.series_codes) + 1,
                "hidden": int(self.config["hidden"]),
                "dropout": float(self.config["dropout"]),
                "encoder": self.config["encoder"],
                "quantiles": tuple(self.task.quantiles),
                **self._extra_arch(),
            }
            net = self._build(self.arch_).to(device)
            self._train(net, train, val, device, rng)
        self.state_ = {k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}
        self._net = None
        self.fit_seconds_ = time.perf_counter() - started
        log.info(
            "%s fitted in %.1fs: %d epochs, best validation loss %.4f",
            self.family,
            self.fit_seconds_,
            len(self.fit_log_),
            min((e["val"] for e in self.fit_log_), default=float("nan")),
        )
        return self

    def _extra_arch(self) -> dict[str, Any]:
        return {}

    def _train(
        self,
        net: nn.Module,
        train: Batchable,
        val: Batchable,
        device: torch.device,
        rng: np.random.Generator,
    ) -> None:
        """AdamW with gradient clipping; each epoch draws ``epoch_samples`` training samples
        (all of them if fewer) and scores a fixed draw of the validation tail. The learning
        rate halves when validation stalls for a third of ``patience``; training stops
        ``patience`` epochs after the best one, whose weights are kept."""
        cfg = self.config
        opt = torch.optim.AdamW(
            net.parameters(),
            lr=float(cfg["learning_rate"]),
            weight_decay=float(cfg["weight_decay"]),
        )
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, factor=0.5, patience=max(int(cfg["patience"]) // 3, 1)
        )
        qs = torch.tensor(self.task.quantiles, dtype=torch.float32, device=device)
        batch, per_epoch = int(cfg["batch_size"]), int(cfg["epoch_samples"])
        checked = np.sort(rng.permutation(val.n_samples)[: max(per_epoch // 2, 1)])
        best, best_state, stale = float("inf"), None, 0
        self.fit_log_ = []
        train_y, train_w = train.labels()
        for epoch in range(int(cfg["epochs"])):
            net.train()
            order = rng.permutation(train.n_samples)[:per_epoch]
            total, seen = 0.0, 0.0
            for i in range(0, len(order), batch):
                pred, rows = self._forward(net, train, order[i : i + batch], device)
                if len(rows) == 0:
                    continue
                y, w = _tensors(device, train_y[rows], train_w[rows])
                loss = pinball_loss(pred, y, qs, w)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                opt.step()
                total += float(loss.detach()) * float(w.sum())
                seen += float(w.sum())
            fit_loss = total / max(seen, 1e-12)
            score = self._evaluate(net, val, checked, qs, device) if len(checked) else fit_loss
            self.fit_log_.append({"epoch": epoch, "train": fit_loss, "val": score})
            plateau.step(score)
            if score < best - 1e-6:
                best, best_state, stale = score, copy.deepcopy(net.state_dict()), 0
            else:
                stale += 1
                if stale >= int(cfg["patience"]):
                    break
        if best_state is not None:
            net.load_state_dict(best_state)

    def _evaluate(
        self,
        net: nn.Module,
        data: Batchable,
        samples: np.ndarray,
        qs: torch.Tensor,
        device: torch.device,
    ) -> float:
        net.eval()
        num, den = 0.0, 0.0
        size = int(self.config["batch_size"]) * 4
        data_y, data_w = data.labels()
        with torch.no_grad():
            for i in range(0, len(samples), size):
                pred, rows = self._forward(net, data, samples[i : i + size], device)
                if len(rows) == 0:
                    continue
                y, w = _tensors(device, data_y[rows], data_w[rows])
                num += float(pinball_loss(pred, y, qs, w)) * float(w.sum())
                den += float(w.sum())
        return num / max(den, 1e-12)

    def _network(self, device: torch.device) -> nn.Module:
        if self._net is None:
            assert self.state_ is not None
            net = self._build(self.arch_)
            net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in self.state_.items()})
            self._net = net.eval()
        return self._net.to(device)

    def predict(self, frame: pl.DataFrame, history: TargetHistory | None = None) -> pl.DataFrame:
        require_fitted(self.state_ is not None, self.family)
        hist = require_history(history, self.family)
        qcols = [quantile_column(q) for q in self.task.quantiles]
        out = np.zeros((frame.height, len(qcols)))
        if frame.height:
            device = pick_device()
            data = self._batchable(frame, hist, train=False)
            base, scale = self._base_scale(frame)
            with torch_threads(), torch.no_grad():
                net = self._network(device)
                for samples in _chunks(data.n_samples, int(self.config["batch_size"]) * 4):
                    pred, rows = self._forward(net, data, samples, device)
                    out[rows] = pred.double().cpu().numpy()
            out = base[:, None] + scale[:, None] * out
        sig = SIGNALS.get(self.task.target.signal)
        if sig is not None:
            out = np.clip(out, sig.low, sig.high)
        result = (
            frame.select(FORECAST_KEYS)
            .with_columns(pl.Series(c, out[:, i]) for i, c in enumerate(qcols))
            .with_columns(monotone(qcols))
        )
        return result.with_columns(
            pl.col("q50").alias("yhat"), pl.lit(self.family).alias("model")
        ).select(*FORECAST_KEYS, "model", "yhat", *qcols)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_net"] = None  # rebuilt from state_ on first use
        return state


def _time_split(rows: pl.DataFrame, share: float) -> tuple[np.ndarray, np.ndarray]:
    """Row positions to train on and to validate on: the validation tail is the last ``share``
    of origins; training keeps only rows whose target time is before that tail starts."""
    origins = rows["origin"].unique().sort()
    if origins.len() < 4:
        everything = np.arange(rows.height)
        return everything, np.array([], dtype=np.int64)
    cut = origins[int(origins.len() * (1.0 - share))]
    ts_ok = (rows["ts"] < cut).to_numpy()
    val = (rows["origin"] >= cut).to_numpy()
    return np.nonzero(ts_ok)[0], np.nonzero(val)[0]


def _chunks(n: int, size: int) -> Iterator[np.ndarray]:
    for i in range(0, n, size):
        yield np.arange(i, min(i + size, n))


def _tensors(device: torch.device, *arrays: np.ndarray) -> list[torch.Tensor]:
    return [torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in arrays]
