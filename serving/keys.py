"""API keys: who may call the service, in which roles, stored hashed beside the warning ledger.

A key is shown once, when it is created (``cbk_<id>_<secret>``); the database keeps its id, its
holder's name, its roles and the SHA-256 of the secret. The secret is 32 random bytes, so a
fast hash is enough (a slow password hash protects guessable secrets; these are not). Checking
a key compares hashes with ``hmac.compare_digest`` (constant time), and an unknown id is
compared against a dummy hash so that timing does not tell a wrong id from a wrong secret.

Roles (:data:`ROLES`): ``read`` for dashboards, ``ingest`` for integrators posting data,
``officer`` for acknowledging, resolving and silencing (and reading), ``admin`` for models,
keys and quarantined data (and everything else).

The server keeps the keys in memory and reads the table again every ``refresh_s`` seconds, so
checking a key costs a dictionary lookup and a hash, and a key revoked with ``citybrain keys
revoke`` stops working within that time on every replica.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import (
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from features import ConfigError, NotFoundError

Role = Literal["read", "ingest", "officer", "admin"]
ROLES: tuple[Role, ...] = ("read", "ingest", "officer", "admin")
IMPLIES: dict[str, frozenset[str]] = {
    "read": frozenset({"read"}),
    "ingest": frozenset({"ingest"}),
    "officer": frozenset({"officer", "read"}),
    "admin": frozenset(ROLES),
}
"""What each role may do: an officer also reads, an admin does everything."""

PREFIX = "cbk"
_DUMMY = hashlib.sha256(b"citybrain-no-such-key").hexdigest()


@dataclass(frozen=True)
class ApiKey:
    """A key as stored: never its secret."""

    id: str
    name: str
    roles: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def grants(self, role: str) -> bool:
        """Whether any of the key's roles implies ``role``."""
        return self.active and any(role in IMPLIES[r] for r in self.roles if r in IMPLIES)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "roles": list(self.roles),
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyStore:
    """The ``api_keys`` table over a SQLAlchemy URL (the ledger's database by default)."""

    def __init__(self, url: str, *, refresh_s: float = 5.0) -> None:
        parsed = make_url(url)
        kwargs: dict[str, Any] = {}
        if parsed.get_backend_name() == "sqlite":
            kwargs["connect_args"] = {"check_same_thread": False}
            if parsed.database in (None, "", ":memory:"):
                kwargs["poolclass"] = StaticPool
            else:
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(url, **kwargs)
        self.metadata = MetaData()
        self.table = Table(
            "api_keys",
            self.metadata,
            Column("id", String(32), primary_key=True),
            Column("name", String(200), nullable=False),
            Column("roles", String(200), nullable=False),
            Column("secret_sha256", String(64), nullable=False),
            Column("created_at", DateTime(timezone=True), nullable=False),
            Column("revoked_at", DateTime(timezone=True), nullable=True),
        )
        self.metadata.create_all(self.engine)
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[ApiKey, str]] = {}
        self._loaded_at = float("-inf")

    def dispose(self) -> None:
        self.engine.dispose()

    def create(self, name: str, roles: list[str] | tuple[str, ...]) -> tuple[ApiKey, str]:
        """A new key for ``name`` with ``roles``; returns it and its token, shown only now.

        Raises:
            ConfigError: an empty name, no role, or a role that does not exist.
        """
        name = name.strip()
        if not name:
            raise ConfigError("a key needs the name of who holds it (--name)", key="name")
        unknown = sorted(set(roles) - set(ROLES))
        if not roles or unknown:
            raise ConfigError(
                f"roles {unknown or '(none)'} are not roles; give one or more of "
                f"{', '.join(ROLES)}",
                key="role",
            )
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        kept = tuple(r for r in ROLES if r in roles)
        with self.engine.begin() as conn:
            conn.execute(
                insert(self.table).values(
                    id=key_id,
                    name=name,
                    roles=",".join(kept),
                    secret_sha256=_hash(secret),
                    created_at=now,
                )
            )
        self._loaded_at = float("-inf")
        return ApiKey(key_id, name, kept, now, None), f"{PREFIX}_{key_id}_{secret}"

    def list(self) -> builtins.list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        return [k for k, _ in self._rows()]

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key for good (it stays listed, with when).

        Raises:
            NotFoundError: no key has that id.
        """
        now = datetime.now(UTC)
        with self.engine.begin() as conn:  # a key revoked before keeps its first revocation
            conn.execute(
                update(self.table)
                .where(self.table.c.id == key_id, self.table.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        found = {k.id: k for k in self.list()}
        if key_id not in found:
            raise NotFoundError(
                f"no API key has id {key_id[:40]!r}; `citybrain keys list` shows them"
            )
        self._loaded_at = float("-inf")
        return found[key_id]

    def verify(self, token: str) -> ApiKey | None:
        """The active key a token belongs to, or None; constant time in the secret."""
        parts = token.split("_", 2)
        key_id, secret = (
            (parts[1], parts[2]) if len(parts) == 3 and parts[0] == PREFIX else ("", "")
        )
        entry = self._current().get(key_id)
        stored = entry[1] if entry is not None else _DUMMY
        matches = hmac.compare_digest(_hash(secret), stored)
        if entry is None or not matches or not entry[0].active:
            return None
        return entry[0]

    def _current(self) -> dict[str, tuple[ApiKey, str]]:
        if time.monotonic() - self._loaded_at >= self.refresh_s:
            with self._lock:
                if time.monotonic() - self._loaded_at >= self.refresh_s:
                    self._cache = {k.id: (k, h) for k, h in self._rows()}
                    self._loaded_at = time.monotonic()
        return self._cache

    def _rows(self) -> builtins.list[tuple[ApiKey, str]]:
        t = self.table
        with self.engine.connect() as conn:
            rows = conn.execute(select(t).order_by(t.c.created_at)).mappings().all()
        return [
            (
                ApiKey(
                    id=r["id"],
                    name=r["name"],
                    roles=tuple(x for x in r["roles"].split(",") if x),
                    created_at=_aware(r["created_at"]),
                    revoked_at=_aware(r["revoked_at"]) if r["revoked_at"] else None,
                ),
                r["secret_sha256"],
            )
            for r in rows
        ]


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
