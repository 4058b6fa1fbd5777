"""Risk updates in, stored decisions out: state from SQL, pure decision, one SQL transaction.

Concurrency: the state of a ticker is written only if nobody wrote it since it was read
(see :class:`~alerts.store.repository.StateConflict`); on a conflict the batch is reloaded
and decided again, so an input applied by another worker meanwhile is recognised by its
position and skipped, and sequence numbers continue from the other writer's.

Isolation: an update whose ticker the database cannot store, or whose decision fails on the
record itself, is returned as :class:`Rejected` (the agent dead-letters it) and the rest of
the batch goes on. When the database refuses a batch for its data, the batch is split until
the one refused update is found. Failures of the database itself (unreachable, restarting)
propagate: the caller waits and retries, offsets uncommitted.
"""

from __future__ import annotations

import logging
import threading
import unicodedata
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import sqlalchemy as sa

from alerts.decision import Decider, Notification, TickerState
from alerts.payload import build_payload
from alerts.rules import RuleSet
from alerts.store.repository import AlertStore, Decided, StateConflict
from alerts.store.tables import RuleStateRow
from streams.contracts import RiskUpdate

log = logging.getLogger(__name__)

MAX_CONFLICTS = 20  # reload-and-decide rounds before giving up (the caller retries later)
TICKER_MAX_CHARS: int = RuleStateRow.__table__.c.ticker.type.length  # type: ignore[attr-defined]
REASON_TICKER = "invalid_ticker"
REASON_UNSTORABLE = "unstorable"
REASON_UNDECIDABLE = "undecidable"


@dataclass(frozen=True)
class Rejected:
    """An update that cannot be decided or stored: dead-letter it, with ``reason``."""

    index: int  # position in the batch given to :meth:`AlertPipeline.run`
    reason: str
    detail: str


@dataclass
class Processed:
    new_ids: list[str] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def ticker_problem(ticker: str) -> str | None:
    """Why the alert history cannot store ``ticker`` (upper-cased), or None."""
    name = ticker.upper()
    if not name.strip():
        return "empty ticker"
    if len(name) > TICKER_MAX_CHARS:
        return f"ticker longer than {TICKER_MAX_CHARS} characters ({len(name)})"
    if "\x00" in name:
        return "ticker contains a NUL character"
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in name):
        return "ticker contains a control character or a lone surrogate"
    return None


def _is_data_error(exc: sa.exc.SQLAlchemyError) -> bool:
    """The database refused the values (not: the database is unavailable)."""
    if isinstance(exc, sa.exc.DataError | sa.exc.IntegrityError):
        return True
    return isinstance(exc, sa.exc.StatementError) and not isinstance(exc, sa.exc.DBAPIError)


class AlertPipeline:
    """Decides and stores; delivery is the dispatcher's job (it reads the outbox)."""

    def __init__(
        self,
        rules: RuleSet,
        store: AlertStore,
        channels: Sequence[str],
        *,
        public_url: str,
        deadline: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self.rules = rules
        self.decider = Decider(rules)
        self.store = store
        self.channels = list(channels)
        self.public_url = public_url
        self.deadline = deadline
        self.clock = clock
        self.latest: dict[str, RiskUpdate] = {}  # latest risk per ticker, for snapshots
        self._latest_lock = threading.Lock()
        self.conflicts = 0  # reload-and-decide rounds caused by another writer

    def process(
        self,
        updates: Sequence[RiskUpdate],
        positions: Sequence[tuple[str, int]] | None = None,
    ) -> list[str]:
        """:meth:`run`, returning only the new event ids."""
        return self.run(updates, positions).new_ids

    def run(
        self,
        updates: Sequence[RiskUpdate],
        positions: Sequence[tuple[str, int]] | None = None,
    ) -> Processed:
        """Decide on ``updates`` (in topic order) and store; returns new event ids and the
        updates refused (to dead-letter).

        ``positions`` ("topic/partition", offset) per update, when given, make a replay
        idempotent: an input at or before the position stored with the ticker's state is
        skipped (the state and the position are committed in one transaction).
        """
        out = Processed()
        accepted: list[int] = []
        for i, update in enumerate(updates):
            problem = ticker_problem(update.ticker)
            if problem is None:
                accepted.append(i)
            else:
                out.rejected.append(Rejected(i, REASON_TICKER, problem))
        self._isolate(updates, positions, accepted, out)
        out.rejected.sort(key=lambda r: r.index)
        if out.new_ids:
            log.info("decided %d alert(s): %s", len(out.new_ids), out.new_ids)
        return out

    def _isolate(
        self,
        updates: Sequence[RiskUpdate],
        positions: Sequence[tuple[str, int]] | None,
        indices: list[int],
        out: Processed,
    ) -> None:
        """Commit ``indices``; when the database refuses the data, split to find the one."""
        if not indices:
            return
        try:
            ids, refused = self._decide_and_commit(updates, positions, indices)
        except sa.exc.SQLAlchemyError as exc:
            if not _is_data_error(exc):
                raise
            if len(indices) == 1:
                detail = str(getattr(exc, "orig", None) or exc).splitlines()[0][:500]
                log.error("alert history refused update %d (%s): %s", indices[0],
                          updates[indices[0]].ticker[:40].encode("unicode_escape"), detail)
                out.rejected.append(Rejected(indices[0], REASON_UNSTORABLE, detail))
                return
            mid = len(indices) // 2
            self._isolate(updates, positions, indices[:mid], out)
            self._isolate(updates, positions, indices[mid:], out)
            return
        out.new_ids += ids
        out.rejected += refused

    def _decide_and_commit(
        self,
        updates: Sequence[RiskUpdate],
        positions: Sequence[tuple[str, int]] | None,
        indices: list[int],
    ) -> tuple[list[str], list[Rejected]]:
        for _ in range(MAX_CONFLICTS):
            states = self.store.load_states(updates[i].ticker for i in indices)
            silences = self.store.active_silences(self.clock())
            decided: list[Decided] = []
            refused: list[Rejected] = []
            sources: dict[str, tuple[str, int]] = {}
            touched: set[str] = set()
            for i in indices:
                update, now = updates[i], self.clock()
                ticker = update.ticker.upper()
                state = states[ticker]
                if positions is not None:
                    where, offset = positions[i]
                    if state.positions.get(where, -1) >= offset:
                        continue  # applied before (a crash, or another worker): changes nothing
                    state = replace(state, positions={**state.positions, where: offset})
                    topic, _, partition = where.rpartition("/")
                    sources[ticker] = (topic, int(partition))
                try:
                    new, notes = self.decider.decide(state, update, now, silences)
                    made = [self._decided(note, update) for note in notes]
                except Exception as exc:  # the record itself cannot be decided: isolate it
                    log.exception("update %d for %r cannot be decided", i, ticker,
                                  extra={"ticker": ticker})
                    refused.append(Rejected(i, REASON_UNDECIDABLE, repr(exc)[:500]))
                    continue
                states[ticker] = new
                touched.add(ticker)
                decided += made
            changed = {t: states[t] for t in touched}
            try:
                ids = self.store.commit_decisions(changed, decided, self.channels, self.clock(),
                                                  self.deadline, sources)
            except StateConflict as exc:
                self.conflicts += 1
                log.info("%s: deciding the batch again", exc)
                continue
            self._remember(updates[i] for i in indices)
            return ids, refused
        raise StateConflict("(batch)", -1)

    def _remember(self, updates: Iterable[RiskUpdate]) -> None:
        with self._latest_lock:
            for update in updates:
                ticker = update.ticker.upper()
                previous = self.latest.get(ticker)
                if previous is None or previous.as_of <= update.as_of:
                    self.latest[ticker] = update

    def tick_owned(self, partitions: Mapping[str, Collection[int]] | None) -> list[str]:
        """Run the timers of every ticker with pending state last fed from ``partitions``
        (topic -> partition numbers; None: all), read from SQL: a restart or a newly
        assigned partition loses no `for`, repeat or silence expiry."""
        return self.tick(self.store.tickers_with_timers(partitions))

    def tick(self, tickers: Iterable[str]) -> list[str]:
        """Run the timers of ``tickers`` (`for`, cooldown, repeats, expired silences) without
        new input; call it from the consumer that owns those tickers' partitions."""
        names = list(tickers)
        if not names:
            return []
        for _ in range(MAX_CONFLICTS):
            now = self.clock()
            silences = self.store.active_silences(now)
            changed: dict[str, TickerState] = {}
            decided: list[Decided] = []
            for ticker, state in self.store.load_states(names).items():
                if state.last_update is None:
                    continue
                try:
                    new, notes = self.decider.tick(state, now, silences)
                    made = [self._decided(note, state.last_update) for note in notes]
                except Exception:
                    log.exception("timers of %r failed", ticker)
                    continue
                if notes or new != state:
                    changed[ticker] = new
                    decided += made
            if not changed:
                return []
            try:
                return self.store.commit_decisions(changed, decided, self.channels, now,
                                                   self.deadline)
            except StateConflict as exc:
                self.conflicts += 1
                log.info("%s: running the timers again", exc)
        log.warning("timers of %d ticker(s) kept conflicting; next round", len(names))
        return []

    def _decided(self, note: Notification, update: RiskUpdate) -> Decided:
        rule = self.rules.by_name(note.rule)
        assert rule is not None
        payload = build_payload(note, rule, update, rules_version=self.rules.version,
                                public_url=self.public_url)
        return Decided(note, payload.model_dump_json(), self.rules.version)

    def latest_updates(self) -> list[RiskUpdate]:
        """The latest RiskUpdate per ticker seen on the topic (the snapshot job's source)."""
        with self._latest_lock:
            return list(self.latest.values())
