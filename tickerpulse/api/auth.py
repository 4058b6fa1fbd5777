"""Bearer-token authentication of the dashboard API, roles ``read`` and ``admin``.

Every ``/api/...`` route depends on :meth:`Authenticator.read` (``create_app`` adds it to every
router it mounts, and refuses to build an app with an ``/api`` route lacking it); routes that
change silences or show rules text add :func:`require_admin`. As soon as one unrevoked token
exists, a valid token is required; with none, the API is open only when ``open_without_tokens``
(a loopback bind, or ``api.insecure``), and otherwise refuses every request.

Tokens are read from SQL into memory every ``refresh_s`` by a background task of the app (so a
new or revoked token takes effect within that, and no request waits on SQL for it; without
the task, as under an in-process test transport, the first request after ``refresh_s`` reads
it), and compared as SHA-256 digests with :func:`hmac.compare_digest` against every
active token, without stopping at the first match: the time taken does not depend on how much
of a guess is right.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from fastapi import HTTPException, Request, Response, Security
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from alerts.store.tokens import ActiveToken, token_hash
from streams.contracts import utc_now
from tickerpulse.api.backends import BackendUnavailable
from tickerpulse.api.risk import ErrorBody

log = logging.getLogger(__name__)

API_PREFIX = "/api/"
STALE_LIMIT_S = 60.0  # SQL unreachable: the last token list read is trusted this long, no more

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API token from `tickerpulse api token create` (prefix `tp_`).",
)

_WWW_AUTHENTICATE = {
    "WWW-Authenticate": {"description": "`Bearer` (RFC 6750)", "schema": {"type": "string"}}
}
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "headers": _WWW_AUTHENTICATE,
          "description": "No token, or not a valid one"},
    503: {"model": ErrorBody, "description": "Redis or the SQL database is unreachable"},
}
ADMIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorBody, "description": "The token's role is `read`; this needs `admin`"},
}


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's name and role (``anonymous`` when the API is open)."""

    name: str
    role: str


ANONYMOUS = Principal("anonymous", "admin")


class TokenSource(Protocol):
    """What the authenticator needs from the token store (alerts.store.tokens.TokenStore)."""

    def active(self) -> list[ActiveToken]: ...

    def touch(self, names: list[str], now: Any) -> None: ...


def _unauthorized(detail: str, invalid: bool) -> HTTPException:
    challenge = 'Bearer error="invalid_token"' if invalid else "Bearer"
    return HTTPException(401, detail, headers={"WWW-Authenticate": challenge})


@dataclass
class Authenticator:
    source: TokenSource | None
    open_without_tokens: bool = True
    refresh_s: float = 2.0
    timeout_s: float = 2.0
    clock: Callable[[], float] = time.monotonic
    on_failure: Callable[[str], None] = lambda reason: None
    _tokens: list[ActiveToken] | None = None
    _loaded_at: float = float("-inf")
    _used: set[str] = field(default_factory=set)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _background: bool = False

    async def keep_fresh(self) -> None:
        """Run for the app's lifetime: re-read the token list every ``refresh_s``, so that
        requests use the list in memory and never wait on SQL (a revocation still takes
        effect within ``refresh_s`` plus one read)."""
        if self.source is None:
            return
        self._background = True
        try:
            while True:
                async with self._lock:
                    try:
                        await self._refresh(self.source)
                    except BackendUnavailable:
                        pass  # logged; requests answer 503 once the list is too old
                await asyncio.sleep(self.refresh_s)
        finally:
            self._background = False

    async def tokens(self) -> list[ActiveToken]:
        if self.source is None:
            return []
        age = self.clock() - self._loaded_at
        if self._tokens is not None and age < self.refresh_s:
            return self._tokens
        if self._background and self._tokens is not None:
            # keep_fresh() re-reads the list; a request never waits on SQL for it
            if age > STALE_LIMIT_S:
                raise BackendUnavailable("sql")
            return self._tokens
        async with self._lock:
            if self.clock() - self._loaded_at >= self.refresh_s or self._tokens is None:
                await self._refresh(self.source)
        assert self._tokens is not None
        return self._tokens

    async def _refresh(self, source: TokenSource) -> None:
        used, self._used = sorted(self._used), set()

        def read() -> list[ActiveToken]:
            source.touch(used, utc_now())
            return source.active()

        try:
            self._tokens = await asyncio.wait_for(asyncio.to_thread(read), self.timeout_s)
            self._loaded_at = self.clock()
        except Exception as exc:  # noqa: BLE001 - any failure: judged by staleness below
            self._used.update(used)
            stale = self.clock() - self._loaded_at
            if self._tokens is None or stale > STALE_LIMIT_S:
                log.warning("API tokens unreadable (%s); answering 503", type(exc).__name__)
                raise BackendUnavailable("sql") from exc
            log.warning("API tokens unreadable (%s); using the list read %.0f s ago",
                        type(exc).__name__, stale)

    async def authenticate(self, credentials: HTTPAuthorizationCredentials | None) -> Principal:
        tokens = await self.tokens()
        if not tokens:
            if self.open_without_tokens:
                return ANONYMOUS
            self.on_failure("no_tokens")
            raise _unauthorized("no API token exists yet: create one with "
                                "`tickerpulse api token create`", invalid=False)
        if credentials is None:
            self.on_failure("missing")
            raise _unauthorized("a bearer token is required", invalid=False)
        digest = token_hash(credentials.credentials)
        match: ActiveToken | None = None
        for token in tokens:  # no early exit: constant work whichever token matches
            if hmac.compare_digest(digest, token.token_hash):
                match = token
        if match is None:
            self.on_failure("invalid")
            raise _unauthorized("the token is not valid (unknown or revoked)", invalid=True)
        self._used.add(match.name)
        return Principal(match.name, match.role)

    async def read(
        self, request: Request,
        credentials: HTTPAuthorizationCredentials | None = Security(bearer),  # noqa: B008
    ) -> Principal:
        """The dependency of every /api route: any valid token (role read or admin).

        The app's middleware has authenticated every ``/api/`` request before routing (so a
        route mounted without this dependency is protected all the same); this dependency
        declares the scheme in OpenAPI and authenticates requests the middleware did not.
        """
        principal: Principal | None = getattr(request.state, "principal", None)
        if principal is None:
            principal = await self.authenticate(credentials)
            request.state.principal = principal
        return principal

    async def guard(self, request: Request) -> Response | None:
        """Middleware step: authenticate an /api request, or the response refusing it."""
        if not request.url.path.startswith(API_PREFIX):
            return None
        try:
            request.state.principal = await self.authenticate(await bearer(request))
        except HTTPException as exc:
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                                headers=exc.headers)
        return None


def require_admin(request: Request) -> Principal:
    """Route dependency: the caller authenticated by :meth:`Authenticator.read` is an admin."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:  # a route mounted without authentication: fail closed
        raise RuntimeError("require_admin on a route without Authenticator.read")
    if principal.role != "admin":
        raise HTTPException(403, f"token {principal.name!r} has role read; this needs admin")
    return principal


def current_principal(request: Request) -> Principal:
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        raise RuntimeError("current_principal on a route without Authenticator.read")
    return principal
