"""Which model serves each domain, read off the loaded model, and which tasks are not served."""

from __future__ import annotations

from pydantic import BaseModel, Field

from serving.schemas import IsoTime


class EnsembleMember(BaseModel):
    family: str
    weight: float


class ServedModel(BaseModel):
    domain: str
    task: str = Field(description="the task config's name")
    family: str = Field(description="the family that answers, e.g. lightgbm, sarimax, ensemble")
    calibration: str | None = Field(description="scale when its quantiles are calibrated")
    members: list[EnsembleMember] = Field(description="an ensemble's members; else empty")
    version: str = Field(description="the registered model version")
    source: str = Field(
        description="registry, or cache: the local copy while the registry does not answer"
    )
    features: int = Field(description="how many feature columns the model reads")
    trained_at: IsoTime | None = Field(
        None, description="when the version was registered; null while the registry is away"
    )
    metric: str | None = Field(None, description="the task's primary metric, e.g. mae")
    backtest: float | None = Field(
        None, description="the version's backtest score in that metric (lower is better)"
    )
    baseline: float | None = Field(
        None, description="the baseline's score on the same backtest folds"
    )


class ModelsOut(BaseModel):
    models: list[ServedModel]
    problems: dict[str, str] = Field(description="configured task -> why it is not served")
    notices: dict[str, str] = Field(
        description="configured task -> what to know of how it is served (a registry outage)"
    )
