"""The database's clock in SQL: claim expiry and leases compare times on one clock.

Workers' clocks differ (NTP steps, a paused VM, a container without time sync); a claim or a
lease that one worker writes with its own clock and another reads with its own can expire
early (two holders) or never. ``db_now()`` and ``db_after(seconds)`` render as the database
server's current time, so every comparison of ``claimed_until`` / ``expires_at`` happens on
the one clock every worker shares.

PostgreSQL: ``now()`` (the start of the transaction; the transactions using it are short).
SQLite: ``strftime(..., 'now')`` with microsecond digits, in the text form SQLAlchemy stores
``DateTime`` columns in on SQLite (UTC), so that comparisons with stored values are exact.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from alerts.store.tables import UTCDateTime

_SQLITE_FORMAT = "'%Y-%m-%d %H:%M:%f000'"  # SQLAlchemy's SQLite DATETIME text (microseconds)


class db_now(FunctionElement[Any]):  # noqa: N801 - reads like the SQL function it is
    """The database server's current UTC time."""

    type = UTCDateTime()
    inherit_cache = True


class db_after(FunctionElement[Any]):  # noqa: N801
    """The database server's current UTC time plus ``seconds`` (a float)."""

    type = UTCDateTime()
    inherit_cache = True

    def __init__(self, seconds: float) -> None:
        super().__init__(sa.literal(float(seconds), sa.Float()))


@compiles(db_now, "postgresql")
def _pg_now(element: db_now, compiler: Any, **kw: Any) -> str:
    return "now()"


@compiles(db_now, "sqlite")
def _sqlite_now(element: db_now, compiler: Any, **kw: Any) -> str:
    return f"strftime({_SQLITE_FORMAT}, 'now')"


@compiles(db_after, "postgresql")
def _pg_after(element: db_after, compiler: Any, **kw: Any) -> str:
    seconds = compiler.process(element.clauses, **kw)
    return f"(now() + make_interval(secs => {seconds}))"


@compiles(db_after, "sqlite")
def _sqlite_after(element: db_after, compiler: Any, **kw: Any) -> str:
    seconds = compiler.process(element.clauses, **kw)
    return f"strftime({_SQLITE_FORMAT}, 'now', printf('%+.6f seconds', {seconds}))"


def read_db_now(session: sa.orm.Session) -> Any:
    """The database server's time now (an aware UTC datetime)."""
    return session.scalar(sa.select(db_now()))
