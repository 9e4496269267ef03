"""Runtime settings (where things run), read from ``CITYBRAIN_*`` environment variables.

Task meaning lives in task configs; this is only the deployment: folders, databases, channels.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from training import TrackingSettings


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CITYBRAIN_", extra="ignore")

    home: Path = Path(".citybrain")
    data: Path | None = None
    mlflow_uri: str | None = None
    ledger_url: str | None = None
    webhook_url: str | None = Field(None, description="comma-separated webhook URLs")
    tasks: str = "waterlogging"
    roster: Path | None = Field(
        None, description="duty roster file (YAML): who is told, and who next when nobody acks"
    )
    dispatch_interval_s: float = 1.0
    webhook_max_attempts: int = 5
    webhook_backoff_s: float = 1.0

    @property
    def data_dir(self) -> Path:
        return self.data or self.home / "data"

    @property
    def ledger(self) -> str:
        return self.ledger_url or f"sqlite:///{(self.home / 'warnings.db').resolve()}"

    @property
    def task_names(self) -> list[str]:
        return [t.strip() for t in self.tasks.split(",") if t.strip()]

    @property
    def webhooks(self) -> list[str]:
        return [u.strip() for u in (self.webhook_url or "").split(",") if u.strip()]

    def tracking(self) -> TrackingSettings:
        return TrackingSettings(home=self.home, mlflow_uri=self.mlflow_uri)
