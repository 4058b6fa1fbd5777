"""Risk updates in, stored decisions out: state from SQL, pure decision, one SQL transaction."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from alerts.decision import Decider, Notification, TickerState
from alerts.payload import build_payload
from alerts.rules import RuleSet
from alerts.store.repository import AlertStore, Decided
from streams.contracts import RiskUpdate

log = logging.getLogger(__name__)


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

    def process(
        self,
        updates: Sequence[RiskUpdate],
        positions: Sequence[tuple[str, int]] | None = None,
    ) -> list[str]:
        """Decide on ``updates`` (in topic order) and store; returns new event ids.

        ``positions`` ("topic/partition", offset) per update, when given, make a replay
        idempotent: an input at or before the position stored with the ticker's state is
        skipped (the state and the position are committed in one transaction).
        """
        if not updates:
            return []
        states = self.store.load_states(u.ticker for u in updates)
        silences = self.store.active_silences(self.clock())
        decided: list[Decided] = []
        for i, update in enumerate(updates):
            now = self.clock()
            ticker = update.ticker.upper()
            state = states[ticker]
            if positions is not None:
                where, offset = positions[i]
                if state.positions.get(where, -1) >= offset:
                    continue  # applied before a crash: the replay changes nothing
                state = replace(state, positions={**state.positions, where: offset})
            states[ticker], notes = self.decider.decide(state, update, now, silences)
            decided += [self._decided(note, update) for note in notes]
            with self._latest_lock:
                previous = self.latest.get(ticker)
                if previous is None or previous.as_of <= update.as_of:
                    self.latest[ticker] = update
        new_ids = self.store.commit_decisions(
            states, decided, self.channels, self.clock(), self.deadline
        )
        if new_ids:
            log.info("decided %d alert(s): %s", len(new_ids), new_ids)
        return new_ids

    def tick(self, tickers: Iterable[str]) -> list[str]:
        """Run the timers of ``tickers`` (`for`, cooldown, repeats, expired silences) without
        new input; call it from the consumer that owns those tickers' partitions."""
        names = list(tickers)
        if not names:
            return []
        now = self.clock()
        silences = self.store.active_silences(now)
        changed: dict[str, TickerState] = {}
        decided: list[Decided] = []
        for ticker, state in self.store.load_states(names).items():
            if state.last_update is None:
                continue
            new, notes = self.decider.tick(state, now, silences)
            if notes or new != state:
                changed[ticker] = new
                decided += [self._decided(note, state.last_update) for note in notes]
        if not changed:
            return []
        return self.store.commit_decisions(changed, decided, self.channels, now, self.deadline)

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
