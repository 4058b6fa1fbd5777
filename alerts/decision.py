"""Pure alert decisions: ``decide(state, update, now) -> (state, notifications)``.

No I/O and no clock of its own; the caller passes ``now``. Per fingerprint (rule + ticker)
a small state machine, in the spirit of Prometheus/Alertmanager::

    inactive --enter--> pending --held `for` (and past cooldown)--> firing --exit--> inactive
                           '--exit--> inactive (nothing sent)          |  repeat_interval:
                                                                     '--> firing again

Enter and exit use different thresholds (hysteresis). After muting (inhibition: a firing
alert of higher severity in the same rule family mutes lower ones for the ticker; silences
by ticker and/or rule until their expiry), a firing alert that was never sent is sent as soon
as it is no longer muted; a resolved notification goes out only for incidents that were sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from alerts.rules import SEVERITY_RANK, Rule, RuleSet
from streams.contracts import RiskUpdate
from streams.drift import is_drift_ticker

Phase = Literal["inactive", "pending", "firing"]
Status = Literal["firing", "resolved"]


@dataclass(frozen=True)
class RuleState:
    phase: Phase = "inactive"
    since: datetime | None = None  # when the condition entered (pending or firing start)
    fired_at: datetime | None = None
    last_sent_at: datetime | None = None  # None while the current incident was never sent
    last_resolved_at: datetime | None = None
    value: float | None = None
    seq: int = 0  # notifications decided for this fingerprint: feeds the event id
    recorded: bool = False  # this incident's firing was stored (sent or muted)


@dataclass(frozen=True)
class TickerState:
    """Everything the decision remembers about one ticker."""

    ticker: str
    rules: Mapping[str, RuleState] = field(default_factory=dict)
    history: Mapping[str, tuple[tuple[datetime, float], ...]] = field(default_factory=dict)
    # last applied input position per source partition ("topic/partition" -> offset), kept with
    # the state so a replayed input (crash before the offset commit) is recognised and skipped
    positions: Mapping[str, int] = field(default_factory=dict)
    last_update: RiskUpdate | None = None  # what timers re-evaluate and alerts carry
    # the stored row's version this state was read at (0: no row yet): storage bookkeeping for
    # optimistic concurrency, never looked at by the decision
    version: int = 0


@dataclass(frozen=True)
class Silence:
    id: int
    ticker: str | None
    rule: str | None
    starts_at: datetime
    expires_at: datetime

    def mutes(self, rule: str, ticker: str, now: datetime) -> bool:
        return (
            self.starts_at <= now < self.expires_at
            and (self.ticker is None or self.ticker.upper() == ticker.upper())
            and (self.rule is None or self.rule == rule)
        )


@dataclass(frozen=True)
class Notification:
    event_id: str
    fingerprint: str
    rule: str
    family: str
    severity: str
    ticker: str
    status: Status
    value: float
    started_at: datetime
    decided_at: datetime
    repeat: bool = False
    muted_by: str | None = None  # "silence:<id>" or "inhibited:<rule>"; muted ones are not sent


def fingerprint(rule: str, ticker: str) -> str:
    return hashlib.sha256(f"{rule}\x00{ticker.upper()}".encode()).hexdigest()[:16]


def event_id(fp: str, seq: int) -> str:
    """Deterministic per (fingerprint, sequence): a replayed decision yields the same id."""
    return "evt_" + hashlib.sha256(f"{fp}:{seq}".encode()).hexdigest()[:28]


class Decider:
    """Binds a :class:`RuleSet`; :meth:`decide` is a pure function of its arguments."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self._windows: dict[str, timedelta] = {}
        self._families: dict[str, list[Rule]] = {}
        for rule in rules.rules:
            self._families.setdefault(rule.family, []).append(rule)
        for rule in rules.rules:
            c = rule.condition
            if c.metric == "sentiment_change" and c.horizon and c.window:
                self._windows[c.horizon] = max(self._windows.get(c.horizon, c.window), c.window)

    def decide(
        self,
        state: TickerState,
        update: RiskUpdate,
        now: datetime,
        silences: Iterable[Silence] = (),
    ) -> tuple[TickerState, list[Notification]]:
        ticker = update.ticker.upper()
        history = dict(state.history)
        states = dict(state.rules)
        raw: list[tuple[Rule, RuleState, str | None]] = []  # (rule, new state, event kind)
        for rule in self.rules.rules:
            if not self.rules.applies(rule, ticker):
                continue
            value = _metric(rule, update, history, now)
            if value is None:
                continue
            new, kind = step(rule, states.get(rule.name, RuleState()), value, now)
            states[rule.name] = new
            raw.append((rule, new, kind))
        for horizon, window in self._windows.items():
            if horizon in update.sentiment:
                samples = history.get(horizon, ())
                history[horizon] = _record(samples, now, update.sentiment[horizon], window)
        notes = self._mute_and_emit(ticker, states, raw, silences, now)
        out = replace(state, ticker=ticker, rules=states, history=history, last_update=update)
        return out, notes

    def tick(
        self, state: TickerState, now: datetime, silences: Iterable[Silence] = ()
    ) -> tuple[TickerState, list[Notification]]:
        """Timers without new input: a pending rule whose `for` / cooldown has elapsed fires,
        a due repeat repeats, a firing that was muted is sent once its silence expired; each
        on the rule's last value (which cannot cross a threshold by itself)."""
        states = dict(state.rules)
        raw: list[tuple[Rule, RuleState, str | None]] = []
        for rule in self.rules.rules:
            st = states.get(rule.name)
            if st is None or st.phase == "inactive" or st.value is None:
                continue
            if not self.rules.applies(rule, state.ticker):
                continue
            new, kind = step(rule, st, st.value, now)
            states[rule.name] = new
            raw.append((rule, new, kind))
        notes = self._mute_and_emit(state.ticker, states, raw, silences, now)
        return replace(state, rules=states), notes

    def _mute_and_emit(
        self,
        ticker: str,
        states: dict[str, RuleState],
        raw: list[tuple[Rule, RuleState, str | None]],
        silences: Iterable[Silence],
        now: datetime,
    ) -> list[Notification]:
        notes: list[Notification] = []
        active_silences = [s for s in silences if s.starts_at <= now < s.expires_at]
        for rule, new, kind in raw:
            family = self._families[rule.family]
            muted = _muted_by(rule, family, ticker, states, active_silences, now)
            new, note = _emit(rule, ticker, new, kind, muted, now)
            states[rule.name] = new
            if note is not None:
                notes.append(note)
        return notes


def step(rule: Rule, st: RuleState, value: float, now: datetime) -> tuple[RuleState, str | None]:
    """One rule's state machine on one value; returns the new state and an event kind
    ("fire", "repeat", "resolve" or None) before muting."""
    c = rule.condition
    entered = value >= c.enter if c.direction == "above" else value <= c.enter
    still = value >= c.exit if c.direction == "above" else value <= c.exit
    st = replace(st, value=value)
    if st.phase == "inactive":
        if not entered:
            return st, None
        st = replace(st, phase="pending", since=now)
    if st.phase == "pending":
        if not still:
            return replace(st, phase="inactive", since=None), None
        ready = st.since is not None and now - st.since >= rule.for_
        cooled = st.last_resolved_at is None or now - st.last_resolved_at >= rule.cooldown
        if ready and cooled:
            started = replace(st, phase="firing", fired_at=now, last_sent_at=None, recorded=False)
            return started, "fire"
        return st, None
    # firing
    if not still:
        resolved = replace(st, phase="inactive", since=None, last_resolved_at=now)
        return resolved, "resolve"
    repeat = rule.repeat_interval
    if st.last_sent_at is None:
        return st, "fire"  # never sent (was muted): try again
    if repeat is not None and now - st.last_sent_at >= repeat:
        return st, "repeat"
    return st, None


def _emit(
    rule: Rule, ticker: str, st: RuleState, kind: str | None, muted: str | None, now: datetime
) -> tuple[RuleState, Notification | None]:
    if kind is None:
        return st, None
    if kind == "resolve":
        if st.last_sent_at is None or not rule.send_resolved:
            return replace(st, last_sent_at=None), None
        status: Status = "resolved"
    else:
        status = "firing"
        if muted is not None and (kind == "repeat" or st.recorded):
            return st, None  # still muted: a muted firing is recorded once per incident
    fp = fingerprint(rule.name, ticker)
    seq = st.seq + 1
    note = Notification(
        event_id=event_id(fp, seq),
        fingerprint=fp,
        rule=rule.name,
        family=rule.family,
        severity=rule.severity,
        ticker=ticker,
        status=status,
        value=float(st.value if st.value is not None else 0.0),
        started_at=st.fired_at or now,
        decided_at=now,
        repeat=kind == "repeat",
        muted_by=muted,
    )
    sent_at = now if muted is None else st.last_sent_at
    if status == "resolved":
        sent_at = None
    return replace(st, seq=seq, last_sent_at=sent_at, recorded=True), note


def _muted_by(
    rule: Rule,
    family: Iterable[Rule],
    ticker: str,
    states: Mapping[str, RuleState],
    silences: Iterable[Silence],
    now: datetime,
) -> str | None:
    rank = SEVERITY_RANK[rule.severity]
    for other in family:
        higher = SEVERITY_RANK[other.severity] > rank
        if higher and states.get(other.name, RuleState()).phase == "firing":
            return f"inhibited:{other.name}"
    for silence in silences:
        if silence.mutes(rule.name, ticker, now):
            return f"silence:{silence.id}"
    return None


def _metric(
    rule: Rule,
    update: RiskUpdate,
    history: Mapping[str, tuple[tuple[datetime, float], ...]],
    now: datetime,
) -> float | None:
    c = rule.condition
    if (c.metric == "drift") != is_drift_ticker(update.ticker):
        return None  # drift rules read drift records only, risk rules never do
    if c.metric == "drift":
        return update.components.get("psi")
    if c.metric == "score":
        return update.score
    if c.metric == "buzz_z":
        return update.buzz_z
    if c.metric == "negative_mentions":
        return update.negative_mentions.get(c.horizon or "")
    current = update.sentiment.get(c.horizon or "")
    if c.metric == "sentiment" or current is None:
        return current
    samples = history.get(c.horizon or "", ())
    if not samples or c.window is None:
        return None
    cutoff = now - c.window
    older = [v for t, v in samples if t <= cutoff]
    baseline = older[-1] if older else samples[0][1]
    return current - baseline


def _record(
    samples: tuple[tuple[datetime, float], ...], now: datetime, value: float, window: timedelta
) -> tuple[tuple[datetime, float], ...]:
    cutoff = now - window
    kept = [s for s in samples if s[0] >= cutoff]
    older = [s for s in samples if s[0] < cutoff]
    return tuple(older[-1:] + kept + [(now, value)])
