"""Who is calling: the API key in ``X-API-Key``, its roles, and its rate limit.

Every route but the health checks depends on :func:`require` with the role it needs: a missing
or unknown key answers 401, a key without the role 403, a key over its rate 429 with
``Retry-After``. The route receives the :class:`ApiKey`, and whatever it records as done by
someone (an acknowledgement, a silence) names the key's holder, never a name from the body.

The rate limit is per key, counted by the ``limits`` library in a fixed window; its storage is
in memory by default, or Redis (``CITYBRAIN_RATE_LIMIT_STORAGE=redis://...``) so replicas
share one count.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from features import CitybrainError, ConfigError
from serving.keys import ApiKey, KeyStore, Role

HEADER = "X-API-Key"
_scheme = APIKeyHeader(
    name=HEADER,
    auto_error=False,
    description="An API key from `citybrain keys create`; its roles decide what it may do.",
)


class AuthError(CitybrainError):
    """No key, or a key the service does not know (or revoked)."""

    http_status = 401

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.headers = {"WWW-Authenticate": "ApiKey"}


class ForbiddenError(CitybrainError):
    """A valid key without the role the route needs."""

    http_status = 403


class RateLimitedError(CitybrainError):
    """A key past its rate limit."""

    http_status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after)}


class Guard:
    """The keys and the per-key rate limit, shared by every route's dependency."""

    def __init__(self, keys: KeyStore, rate: str, storage: str = "memory://") -> None:
        try:
            self.rate = parse(rate)
        except ValueError:
            raise ConfigError(
                f"{rate!r} is not a rate; write it like 1200/minute or 50/second",
                key="rate_limit",
            ) from None
        self.keys = keys
        self._limiter = FixedWindowRateLimiter(storage_from_string(storage))

    def check(self, token: str | None) -> ApiKey:
        """The caller's key, within its rate.

        Raises:
            AuthError: no key or an unknown one.
            RateLimitedError: the key used up its rate in this window.
        """
        if not token:
            raise AuthError(f"this route needs an API key in the {HEADER} header")
        key = self.keys.verify(token)
        if key is None:
            raise AuthError(f"the API key in {HEADER} is not valid (unknown or revoked)")
        if not self._limiter.hit(self.rate, key.id):
            reset = self._limiter.get_window_stats(self.rate, key.id).reset_time
            wait = max(1, int(reset - time.time()) + 1)
            raise RateLimitedError(
                f"key {key.id} is over its rate limit ({self.rate}); retry in {wait} s", wait
            )
        return key


async def get_guard(request: Request) -> Guard:
    return request.app.state.guard


def admit(request: Request, guard: Guard, token: str | None, role: Role) -> ApiKey:
    """The caller's key if it holds ``role``; remembered on the request for the access log.

    Raises:
        AuthError, RateLimitedError: see :meth:`Guard.check`.
        ForbiddenError: a valid key without the role.
    """
    key = guard.check(token)
    request.state.key_id = key.id
    if not key.grants(role):
        raise ForbiddenError(
            f"key {key.id} ({key.name}) has roles {', '.join(key.roles)}; this route needs {role}"
        )
    return key


def require(role: Role) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency that lets through a key holding ``role`` (or a role that implies it).

    It runs on the event loop (``async``), not in the thread pool: a key check is a lookup
    and a hash, and a poll must not queue behind scoring threads for it."""

    async def caller(
        request: Request,
        guard: Annotated[Guard, Depends(get_guard)],
        token: Annotated[str | None, Security(_scheme)] = None,
    ) -> ApiKey:
        return admit(request, guard, token, role)

    caller.__name__ = f"require_{role}"
    return caller


Reader = Annotated[ApiKey, Depends(require("read"))]
Ingester = Annotated[ApiKey, Depends(require("ingest"))]
Officer = Annotated[ApiKey, Depends(require("officer"))]
Admin = Annotated[ApiKey, Depends(require("admin"))]
