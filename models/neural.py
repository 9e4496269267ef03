"""Shared PyTorch pieces for the neural families (``sequence``, ``graph``).

Both families learn the same thing: from the last ``context`` steps of the target (read from
``TargetHistory``, never past a row's origin) and the row's features, the change from
``target_now`` to the target at ``origin + horizon``, in per-series scaled units, as one output
per task quantile. They differ only in what one training sample is (one series at one origin,
or every series at one origin) and in the network; everything else lives here: parameters,
device and threads, seeding, scaling, the pinball loss, the training loop with early stopping
on a time-ordered validation tail, pickling, and turning network outputs into a Forecast.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar, Self

import numpy as np
import polars as pl
import torch
from torch import nn

from features.durations import parse_duration
from features.errors import ConfigError, DataError
from features.feature_spec import FeatureSpec
from features.history import TargetHistory
from features.schemas import SIGNALS
from features.tasks import TaskConfig
from models.gbm import _down_sample_quiet
from models.protocol import FORECAST_KEYS, require_fitted, require_history, training_rows
from models.quantiles import monotone, quantile_column

log = logging.getLogger(__name__)

COMMON_DEFAULTS: dict[str, Any] = {
    "epochs": 40,
    "epoch_samples": 8192,
    "hidden": 64,
    "context": None,  # None: 24 steps of the task's grid
    "learning_rate": 2e-3,
    "dropout": 0.1,
    "patience": 6,
    "encoder": "lstm",
    "validation": 0.15,
    "weight_decay": 1e-5,
}
DEFAULT_CONTEXT_STEPS = 24
_FEATURE_CLAMP = 50.0  # standardised features beyond this many deviations are clamped
_MAX_TCN_LAYERS = 8


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
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
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


# --- parameters ------------------------------------------------------------------------------


def resolve_params(params: dict[str, Any], defaults: dict[str, Any], family: str) -> dict[str, Any]:
    """Defaults overlaid with ``params``; unknown names raise a ConfigError naming the allowed."""
    unknown = set(params) - set(defaults)
    if unknown:
        raise ConfigError(
            f"unknown {family} parameters {sorted(unknown)}; allowed: {sorted(defaults)}",
            key="model.params",
        )
    p = {**defaults, **params}
    for name in ("epochs", "epoch_samples", "hidden", "batch_size", "patience"):
        if not isinstance(p[name], int) or isinstance(p[name], bool) or p[name] < 1:
            raise ConfigError(f"{name} must be a positive integer", key=f"model.params.{name}")
    for name, low, high, text in (
        ("learning_rate", 0.0, float("inf"), "> 0"),
        ("weight_decay", -1e-12, float("inf"), ">= 0"),
        ("dropout", -1e-12, 1.0, "in [0, 1)"),
        ("validation", 0.0, 0.5, "in (0, 0.5)"),
    ):
        value = p[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not low < value < high:
            raise ConfigError(f"{name} must be a number {text}", key=f"model.params.{name}")
    if p["encoder"] not in ("lstm", "tcn"):
        raise ConfigError(
            f"encoder must be lstm or tcn, got {p['encoder']!r}", key="model.params.encoder"
        )
    return p


def context_steps(context: str | None, step: timedelta) -> int:
    """The encoder's window in grid steps (a duration rounded up to whole steps)."""
    if context is None:
        return DEFAULT_CONTEXT_STEPS
    span = parse_duration(context, key="model.params.context")
    if span <= timedelta(0):
        raise ConfigError("context must be a positive duration", key="model.params.context")
    return max(1, -(-span // step))


# --- scaling ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesScaler:
    """Per-series location and scale of the target, from the training history only.

    A series that barely moved in training (a ponding sensor that never flooded) gets a scale
    no smaller than a quarter of the pooled one, so its first real storm is not hundreds of
    scaled units deep.
    """

    series_ids: tuple[str, ...]
    loc: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, history: TargetHistory) -> SeriesScaler:
        v = history.values
        known = np.isfinite(v)
        if not known.any():
            raise DataError("the target history holds no values to scale by")
        pooled = float(np.nanstd(v)) or 1.0
        counts = known.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            loc = np.where(counts > 0, np.nansum(v, axis=1) / np.maximum(counts, 1), 0.0)
            dev = np.where(known, v - loc[:, None], 0.0)
            std = np.sqrt((dev**2).sum(axis=1) / np.maximum(counts, 1))
        scale = np.maximum(std, 0.25 * pooled)
        loc = np.where(counts > 0, loc, float(np.nanmean(v)))
        return cls(history.series_ids, loc.astype(np.float64), scale.astype(np.float64))

    def index(self, series_ids: list[str] | tuple[str, ...]) -> np.ndarray:
        pos = {s: i for i, s in enumerate(self.series_ids)}
        missing = sorted({s for s in series_ids if s not in pos})
        if missing:
            raise DataError(f"the model was not fitted on series {missing[:5]}")
        return np.array([pos[s] for s in series_ids], dtype=np.int64)


@dataclass(frozen=True)
class FeatureScaler:
    """Standardise the row features; NaN becomes 0 plus a missing flag for columns that had
    gaps in training. Cyclic calendar columns (``cal_hour``, ``cal_minute_of_day``, ...) also
    get a sine and cosine of their phase, so midnight sits next to 23:00 (trees split a clock
    anywhere; a small MLP cannot)."""

    columns: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    flagged: tuple[int, ...]

    @classmethod
    def fit(cls, rows: pl.DataFrame, columns: tuple[str, ...]) -> FeatureScaler:
        x = _matrix(rows, columns)
        with warnings.catch_warnings():  # a column with no values at all scales as 0 / 1
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nan_to_num(np.nanmean(x, axis=0)) if x.size else np.zeros(len(columns))
            std = np.nan_to_num(np.nanstd(x, axis=0)) if x.size else np.ones(len(columns))
        flagged = tuple(int(i) for i in np.nonzero(np.isnan(x).any(axis=0))[0])
        return cls(columns, mean, np.where(std > 1e-9, std, 1.0), flagged)

    @property
    def cycles(self) -> list[tuple[int, float]]:
        return [(i, _CYCLES[c]) for i, c in enumerate(self.columns) if c in _CYCLES]

    @property
    def width(self) -> int:
        return len(self.columns) + len(self.flagged) + 2 * len(self.cycles)

    def transform(self, rows: pl.DataFrame) -> np.ndarray:
        x = _matrix(rows, self.columns)
        missing = np.isnan(x)
        z = np.clip((x - self.mean) / self.std, -_FEATURE_CLAMP, _FEATURE_CLAMP)
        z = np.where(missing, 0.0, z)
        flags = missing[:, list(self.flagged)].astype(np.float64)
        waves = []
        for i, period in self.cycles:
            phase = 2 * np.pi * np.nan_to_num(x[:, i]) / period
            waves += [np.sin(phase), np.cos(phase)]
        return np.column_stack([z, flags, *waves]).astype(np.float32)


# the features.calendar columns that wrap around, and their periods
_CYCLES = {
    "cal_hour": 24.0,
    "cal_minute_of_day": 1440.0,
    "cal_hour_of_week": 168.0,
    "cal_weekday": 7.0,
    "cal_month": 12.0,
    "cal_doy": 365.25,
}


def _matrix(rows: pl.DataFrame, columns: tuple[str, ...]) -> np.ndarray:
    if not columns:
        return np.zeros((rows.height, 0))
    x = rows.select(pl.col(c).cast(pl.Float64) for c in columns).to_numpy()
    x = x.astype(np.float64)
    x[~np.isfinite(x)] = np.nan
    return x


# --- loss and network pieces -------------------------------------------------------------------


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


# --- the data a network sees -------------------------------------------------------------------


@dataclass
class Batchable:
    """Rows grouped into samples: ``order[starts[s]:starts[s + 1]]`` are sample ``s``'s rows.

    ``windows`` is per sample: ``(samples, steps, 2)`` for a series at an origin, or
    ``(samples, series, steps, 2)`` for every series at an origin; ``node`` says which
    series of its sample a row is (0 where a sample is one series)."""

    windows: np.ndarray
    x: np.ndarray
    code: np.ndarray
    node: np.ndarray
    sample: np.ndarray
    y: np.ndarray | None = None
    weight: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.order = np.argsort(self.sample, kind="stable")
        counts = np.bincount(self.sample, minlength=len(self.windows))
        self.starts = np.concatenate([[0], np.cumsum(counts)])

    @property
    def n_samples(self) -> int:
        return len(self.windows)

    def rows_of(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row indices of ``samples`` (in sample order) and each row's position in ``samples``."""
        lo, hi = self.starts[samples], self.starts[samples + 1]
        counts = hi - lo
        local = np.repeat(np.arange(len(samples)), counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return self.order[np.repeat(lo, counts) + offsets], local


def scaled_windows(
    history: TargetHistory,
    scaler: SeriesScaler,
    hist_rows: np.ndarray,
    end_bins: np.ndarray,
    length: int,
) -> np.ndarray:
    """``(n, length, 2)`` float32: the per-series scaled target up to each end bin (0 where
    unknown) and a flag that it is known."""
    raw = history.windows(hist_rows, end_bins, length)
    known = np.isfinite(raw)
    sidx = scaler.index([history.series_ids[i] for i in hist_rows])
    z = (raw - scaler.loc[sidx, None]) / scaler.scale[sidx, None]
    z = np.where(known, np.clip(z, -_FEATURE_CLAMP, _FEATURE_CLAMP), 0.0)
    return np.stack([z, known.astype(np.float64)], axis=-1).astype(np.float32)


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

    def _forward(self, net: nn.Module, data: Batchable, samples: np.ndarray, device):
        raise NotImplementedError

    # shared plumbing
    def _batchable(
        self, rows: pl.DataFrame, history: TargetHistory, *, train: bool, weight=None
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
        for epoch in range(int(cfg["epochs"])):
            net.train()
            order = rng.permutation(train.n_samples)[:per_epoch]
            total, seen = 0.0, 0.0
            for i in range(0, len(order), batch):
                pred, rows = self._forward(net, train, order[i : i + batch], device)
                if len(rows) == 0:
                    continue
                y, w = _tensors(device, train.y[rows], train.weight[rows])
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
        with torch.no_grad():
            for i in range(0, len(samples), size):
                pred, rows = self._forward(net, data, samples[i : i + size], device)
                if len(rows) == 0:
                    continue
                y, w = _tensors(device, data.y[rows], data.weight[rows])
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


def history_bins(history: TargetHistory, rows: pl.DataFrame) -> np.ndarray:
    """The history column of each row's origin (the last bin it may read)."""
    return history.bins(rows["origin"]).astype(np.int64)
