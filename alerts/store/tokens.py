"""Dashboard API tokens in SQL: only the SHA-256 of each token is stored, never the token.

A token is ``tp_`` + 32 random bytes (``secrets.token_urlsafe``), 256 bits of entropy. For
such a secret a single unsalted SHA-256 is enough: a salt or a slow hash (bcrypt, argon2)
defends guessable passwords against dictionary attacks, and a 256-bit random value cannot be
guessed, so a stolen hash column lets nobody recover or forge a token. A fast hash also keeps
checking a token on every request cheap.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from alerts.errors import AlertsError, NotFoundError
from alerts.store.tables import ApiToken

Role = Literal["read", "admin"]
ROLES: tuple[Role, ...] = ("read", "admin")
TOKEN_PREFIX = "tp_"  # noqa: S105 - a prefix, not a secret
NAME_PATTERN = r"^[A-Za-z0-9_.@-]{1,64}$"

# SQL errors meaning "the database is unreachable" (the API answers 503 for them)
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError,
)


class TokenNameTakenError(AlertsError, ValueError):
    """A token with this name exists already (revoked ones too: names are never reused)."""


def with_connect_timeout(url: str, timeout_s: float) -> str:
    """PostgreSQL URL with a connect timeout, so an unreachable server fails fast (the API).

    Other backends (SQLite) and URLs that set ``connect_timeout`` themselves are kept as is.
    """
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "postgresql" or "connect_timeout" in parsed.query:
        return url
    seconds = str(max(1, round(timeout_s)))
    return parsed.update_query_dict({"connect_timeout": seconds}).render_as_string(
        hide_password=False)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TokenInfo:
    """What `api token list` shows: never the hash."""

    name: str
    role: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class ActiveToken:
    name: str
    role: str
    token_hash: str


def _info(row: ApiToken) -> TokenInfo:
    return TokenInfo(name=row.name, role=row.role, created_at=row.created_at,
                     last_used_at=row.last_used_at, revoked_at=row.revoked_at)


class TokenStore:
    """Create, list, revoke and read API tokens; shares the alert history's engine."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.session: sessionmaker[Session] = sessionmaker(engine, expire_on_commit=False)

    def create(self, name: str, role: str, now: datetime) -> str:
        """Store a new token's hash; returns the token itself (shown once, never stored)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        token = new_token()
        try:
            with self.session.begin() as s:
                s.add(ApiToken(name=name, role=role, token_hash=token_hash(token),
                               created_at=now))
        except sa.exc.IntegrityError:
            raise TokenNameTakenError(f"a token named {name!r} exists already") from None
        return token

    def all(self) -> list[TokenInfo]:
        with self.session() as s:
            return [_info(r) for r in s.scalars(sa.select(ApiToken).order_by(ApiToken.id))]

    def revoke(self, name: str, now: datetime) -> TokenInfo:
        with self.session.begin() as s:
            row = s.scalar(sa.select(ApiToken).where(ApiToken.name == name))
            if row is None:
                raise NotFoundError(f"no token named {name!r}")
            if row.revoked_at is None:
                row.revoked_at = now
            return _info(row)

    def active(self) -> list[ActiveToken]:
        """Every unrevoked token's name, role and hash (what the API checks against)."""
        q = sa.select(ApiToken.name, ApiToken.role, ApiToken.token_hash).where(
            ApiToken.revoked_at.is_(None))
        with self.session() as s:
            return [ActiveToken(name, role, digest) for name, role, digest in s.execute(q)]

    def touch(self, names: list[str], now: datetime) -> None:
        """Record that these tokens were used (the API batches this, at most every few s)."""
        if not names:
            return
        with self.session.begin() as s:
            s.execute(sa.update(ApiToken).where(ApiToken.name.in_(names))
                      .values(last_used_at=now))

    def ping(self) -> None:
        """Raise when the database cannot answer a trivial query (readiness)."""
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
