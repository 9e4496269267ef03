"""Runtime settings (where things run), read from ``CITYBRAIN_*`` environment variables.

Task meaning lives in task configs; this is only the deployment: folders, databases, channels.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from training import TrackingSettings


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CITYBRAIN_", extra="ignore")

    home: Path = Path(".citybrain")
    data: Path | None = None
    mlflow_uri: str | None = None
    ledger_url: str | None = None
    channels: Path | None = Field(
        None, description="channels file (YAML): every receiver of warnings, secrets by reference"
    )
    webhook_url: str | None = Field(
        None, description="comma-separated webhook URLs (a shorthand beside the channels file)"
    )
    webhook_secret: SecretStr | None = Field(
        None, description="the HMAC secret that signs the shorthand webhooks' messages"
    )
    tasks: str = "waterlogging"
    roster: Path | None = Field(
        None, description="duty roster file (YAML): who is told, and who next when nobody acks"
    )
    dispatch_interval_s: float = 1.0
    public_url: str | None = Field(
        None, description="the service as officers' phones reach it (for acknowledgement links)"
    )
    ack_secret: SecretStr | None = Field(
        None, description="signs the acknowledgement links in messages (none: no links)"
    )
    ack_ttl_s: int = Field(24 * 3600, ge=60, description="how long an acknowledgement link works")
    cap_sender: str = Field(
        "citybrain@localhost", description="the CAP messages' sender (an address of the centre)"
    )
    stream_poll_s: float = Field(
        0.5, gt=0, description="how often the warning stream reads the ledger for changes"
    )
    # who may call, and how much
    keys_url: str | None = Field(
        None, description="database of API keys (SQLAlchemy URL); default: the ledger's"
    )
    key_refresh_s: float = Field(5.0, ge=0, description="how soon a revoked key stops working")
    rate_limit: str = Field("1200/minute", description="requests per key, e.g. 50/second")
    rate_limit_storage: str = Field(
        "memory://", description="where rate counts live; redis://host:6379 to share replicas'"
    )
    cors_origins: str = Field("", description="comma-separated origins allowed to call (CORS)")
    node_modules: Path | None = Field(
        None,
        description="where `npm ci` put the dashboard's browser libraries; default: the "
        "node_modules folder of the project the code runs from",
    )
    # plausible input only
    max_body_bytes: int = Field(20_000_000, ge=1024, description="413 past this, while reading")
    max_future_s: float = Field(
        900.0, ge=0, description="clock skew allowed: later time stamps than now + this refused"
    )
    max_origin_jump_s: float = Field(
        6 * 3600.0, gt=0, description="a batch moving a forecast origin further is quarantined"
    )
    max_warning_changes: int = Field(
        25, ge=1, description="a batch opening, moving or closing more warnings is quarantined"
    )
    champion_poll_s: float = Field(
        30.0, gt=0, description="how often the registry is asked for new champions"
    )
    # logs
    json_logs: bool = True
    access_log: bool = True

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

    @property
    def keys(self) -> str:
        return self.keys_url or self.ledger

    @property
    def origins(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    def tracking(self) -> TrackingSettings:
        return TrackingSettings(home=self.home, mlflow_uri=self.mlflow_uri)
