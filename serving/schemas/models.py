"""Which champion serves each domain, and which configured tasks are not served."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ServedModel(BaseModel):
    domain: str
    task: str = Field(description="the task config's name")
    family: str = Field(description="the model family, e.g. lightgbm")
    version: str = Field(description="the registered model version")
    features: int = Field(description="how many feature columns the model reads")


class ModelsOut(BaseModel):
    models: list[ServedModel]
    problems: dict[str, str] = Field(description="configured task -> why it is not served")
