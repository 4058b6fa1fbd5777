"""Table tests of the pure decision logic with an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.decision import Decider, Notification, Silence, TickerState, event_id, fingerprint
from alerts.rules import parse_rules
from streams.contracts import RiskUpdate

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

RULES = """
version: 1
watchlists: {core: [AAPL]}
sectors: {tech: [AAPL, MSFT]}
rules:
  - name: score-warn
    family: score
    severity: warning
    scope: {all: true}
    condition: {metric: score, enter: 70, exit: 60}
  - name: score-crit
    family: score
    severity: critical
    scope: {all: true}
    condition: {metric: score, enter: 85, exit: 75}
  - name: held
    severity: info
    scope: {ticker: HELD}
    condition: {metric: score, enter: 50, exit: 40}
    for: 2m
  - name: repeat
    severity: info
    scope: {ticker: REP}
    condition: {metric: score, enter: 50, exit: 40}
    repeat_interval: 10m
  - name: rep-warn
    family: rep
    severity: warning
    scope: {ticker: REPI}
    condition: {metric: buzz_z, enter: 3, exit: 2}
    repeat_interval: 10m
  - name: rep-crit
    family: rep
    severity: critical
    scope: {ticker: REPI}
    condition: {metric: buzz_z, enter: 6, exit: 5}
  - name: cool
    severity: info
    scope: {ticker: COOL}
    condition: {metric: score, enter: 50, exit: 40}
    cooldown: 5m
  - name: quiet
    severity: info
    scope: {ticker: QUIET}
    condition: {metric: score, enter: 50, exit: 40}
    send_resolved: false
  - name: neg
    severity: warning
    scope: {watchlist: core}
    condition: {metric: sentiment, horizon: 1h, direction: below, enter: -0.4, exit: -0.2}
  - name: drop
    severity: info
    scope: {sector: tech}
    condition: {metric: sentiment_change, horizon: 15m, window: 30m, direction: below,
                enter: -0.5, exit: -0.2}
  - name: buzz
    severity: info
    scope: {ticker: BUZZ}
    condition: {metric: buzz_z, enter: 3, exit: 1.5}
  - name: negcount
    severity: warning
    scope: {ticker: NEGC}
    condition: {metric: negative_mentions, horizon: 1h, enter: 20, exit: 10}
"""

DECIDER = Decider(parse_rules(RULES, "table.yaml"))


def update(ticker: str, score: float = 10.0, s1h: float = 0.0, s15: float = 0.0,
           buzz: float = 0.0, neg: float = 0.0) -> RiskUpdate:
    return RiskUpdate(
        ticker=ticker, as_of=T0, score=score, components={"sentiment": 0.5},
        sentiment={"15m": s15, "1h": s1h, "1d": 0.0}, volume={"1h": 3.0}, buzz_z=buzz,
        negative_mentions={"1h": neg}, mentions_total=3, model_version="m1", trigger_doc_id="d1",
    )


def run(ticker: str, steps: list[tuple[float, dict]], silences: tuple[Silence, ...] = ()
        ) -> list[list[tuple[str, str, str | None]]]:
    """Feed (minutes after T0, update fields) in order; return per step (rule, status, muted)."""
    state = TickerState(ticker=ticker)
    out = []
    for minutes, fields in steps:
        state, notes = DECIDER.decide(state, update(ticker, **fields),
                                      T0 + timedelta(minutes=minutes), silences)
        out.append([(n.rule, n.status, n.muted_by) for n in notes])
    return out


FIRE_W = ("score-warn", "firing", None)
RES_W = ("score-warn", "resolved", None)

CASES = {
    "below enter: nothing": ("X", [(0, {"score": 69})], [[]]),
    "enter fires at once": ("X", [(0, {"score": 70})], [[FIRE_W]]),
    "hysteresis: between exit and enter stays firing": (
        "X", [(0, {"score": 75}), (1, {"score": 61}), (2, {"score": 65})], [[FIRE_W], [], []]),
    "exit resolves": ("X", [(0, {"score": 75}), (1, {"score": 59})], [[FIRE_W], [RES_W]]),
    "re-entry after resolve fires again (no cooldown)": (
        "X", [(0, {"score": 75}), (1, {"score": 59}), (2, {"score": 71})],
        [[FIRE_W], [RES_W], [FIRE_W]]),
    "hysteresis: below enter after resolve does not fire": (
        "X", [(0, {"score": 75}), (1, {"score": 59}), (2, {"score": 65})],
        [[FIRE_W], [RES_W], []]),
    "for: pending until held": (
        "HELD", [(0, {"score": 55}), (1, {"score": 55}), (2, {"score": 45})],
        [[], [], [("held", "firing", None)]]),
    "for: dropping out while pending sends nothing": (
        "HELD", [(0, {"score": 55}), (1, {"score": 39}), (3, {"score": 55}), (4, {"score": 55})],
        [[], [], [], []]),
    "repeat interval while firing": (
        "REP", [(0, {"score": 60}), (5, {"score": 60}), (10, {"score": 60}), (12, {"score": 60}),
                (20, {"score": 60})],
        [[("repeat", "firing", None)], [], [("repeat", "firing", None)], [],
         [("repeat", "firing", None)]]),
    "cooldown delays re-firing after resolve": (
        "COOL", [(0, {"score": 60}), (1, {"score": 30}), (2, {"score": 60}), (4, {"score": 60}),
                 (6, {"score": 60})],
        [[("cool", "firing", None)], [("cool", "resolved", None)], [], [],
         [("cool", "firing", None)]]),
    "send_resolved false": ("QUIET", [(0, {"score": 60}), (1, {"score": 10})],
                            [[("quiet", "firing", None)], []]),
    "critical inhibits warning of the same family": (
        "X", [(0, {"score": 90})],
        [[("score-warn", "firing", "inhibited:score-crit"), ("score-crit", "firing", None)]]),
    "inhibited warning is sent once the critical resolves": (
        "X", [(0, {"score": 90}), (1, {"score": 88}), (2, {"score": 72})],
        [[("score-warn", "firing", "inhibited:score-crit"), ("score-crit", "firing", None)],
         [], [FIRE_W, ("score-crit", "resolved", None)]]),
    "warning sent before the critical is not re-sent; both resolve": (
        "X", [(0, {"score": 72}), (1, {"score": 90}), (2, {"score": 50})],
        [[FIRE_W], [("score-crit", "firing", None)],
         [("score-warn", "resolved", None), ("score-crit", "resolved", None)]]),
    "two updates at the same instant record a muted firing once": (
        "X", [(0, {"score": 90}), (0, {"score": 91}), (1, {"score": 92})],
        [[("score-warn", "firing", "inhibited:score-crit"), ("score-crit", "firing", None)],
         [], []]),
    "repeats are muted while inhibited, and resume after": (
        "REPI", [(0, {"buzz": 4}), (5, {"buzz": 7}), (15, {"buzz": 7}), (25, {"buzz": 7}),
                 (26, {"buzz": 4}), (30, {"buzz": 4})],
        [[("rep-warn", "firing", None)], [("rep-crit", "firing", None)], [], [],
         [("rep-warn", "firing", None), ("rep-crit", "resolved", None)], []]),
    "sentiment level below with hysteresis (watchlist scope)": (
        "AAPL", [(0, {"s1h": -0.5}), (1, {"s1h": -0.3}), (2, {"s1h": -0.1})],
        [[("neg", "firing", None)], [], [("neg", "resolved", None)]]),
    "watchlist scope excludes others": ("MSFT", [(0, {"s1h": -0.9})], [[]]),
    "sentiment change over a window (sector scope)": (
        "MSFT", [(0, {"s15": 0.4}), (20, {"s15": 0.3}), (31, {"s15": -0.2}), (40, {"s15": -0.2})],
        [[], [], [("drop", "firing", None)], []]),
    "buzz z-score": ("BUZZ", [(0, {"buzz": 3.5}), (1, {"buzz": 2}), (2, {"buzz": 1})],
                     [[("buzz", "firing", None)], [], [("buzz", "resolved", None)]]),
    "negative mention count": ("NEGC", [(0, {"neg": 25}), (1, {"neg": 9})],
                               [[("negcount", "firing", None)], [("negcount", "resolved", None)]]),
    "ticker scope excludes others": ("OTHER", [(0, {"buzz": 9, "neg": 99})], [[]]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_decision_table(name: str) -> None:
    ticker, steps, expected = CASES[name]
    assert run(ticker, steps) == expected


SIL = Silence(id=7, ticker="X", rule=None, starts_at=T0, expires_at=T0 + timedelta(minutes=10))
SIL_RULE = Silence(id=8, ticker=None, rule="score-crit", starts_at=T0,
                   expires_at=T0 + timedelta(minutes=10))

SILENCE_CASES = {
    "silenced firing is recorded muted, sent after expiry": (
        (SIL,), [(0, {"score": 72}), (5, {"score": 72}), (11, {"score": 72})],
        [[("score-warn", "firing", "silence:7")], [], [FIRE_W]]),
    "silenced incident that resolves inside the silence sends no resolved": (
        (SIL,), [(0, {"score": 72}), (5, {"score": 10})],
        [[("score-warn", "firing", "silence:7")], []]),
    "silence by rule only mutes that rule": (
        (SIL_RULE,), [(0, {"score": 90})],
        [[("score-warn", "firing", "inhibited:score-crit"),
          ("score-crit", "firing", "silence:8")]]),
    "expired silence mutes nothing": (
        (Silence(id=9, ticker="X", rule=None, starts_at=T0 - timedelta(hours=2),
                 expires_at=T0 - timedelta(hours=1)),), [(0, {"score": 72})], [[FIRE_W]]),
}


@pytest.mark.parametrize("name", list(SILENCE_CASES))
def test_silence_table(name: str) -> None:
    silences, steps, expected = SILENCE_CASES[name]
    assert run("X", steps, silences) == expected


def test_event_ids_are_unique_per_notification_and_deterministic() -> None:
    state = TickerState(ticker="REP")
    ids: list[Notification] = []
    for minutes in (0, 10, 20):
        now = T0 + timedelta(minutes=minutes)
        state, notes = DECIDER.decide(state, update("REP", score=60), now)
        ids += notes
    assert len({n.event_id for n in ids}) == 3
    fp = fingerprint("repeat", "REP")
    assert [n.event_id for n in ids] == [event_id(fp, i) for i in (1, 2, 3)]
    assert all(n.fingerprint == fp for n in ids)
    # replaying the same input from the same state decides the same ids
    again, notes = DECIDER.decide(TickerState(ticker="REP"), update("REP", score=60), T0)
    assert notes[0].event_id == ids[0].event_id


def test_decide_does_not_mutate_its_input_state() -> None:
    state = TickerState(ticker="X")
    new, _ = DECIDER.decide(state, update("X", score=80), T0)
    assert dict(state.rules) == {} and new.rules["score-warn"].phase == "firing"
    assert new.rules["score-crit"].phase == "inactive"


def test_timers_fire_without_new_input() -> None:
    """`for`, repeats and expired silences act on tick(), with the rule's last value."""
    state, notes = DECIDER.decide(TickerState(ticker="HELD"), update("HELD", score=55), T0)
    assert notes == []
    state, notes = DECIDER.tick(state, T0 + timedelta(minutes=1))
    assert notes == []
    state, notes = DECIDER.tick(state, T0 + timedelta(minutes=2))
    assert [(n.rule, n.status, n.value) for n in notes] == [("held", "firing", 55.0)]
    state, notes = DECIDER.tick(state, T0 + timedelta(minutes=30))
    assert notes == []  # no repeat_interval on this rule, and ticks never resolve

    rep, _ = DECIDER.decide(TickerState(ticker="REP"), update("REP", score=60), T0)
    rep, notes = DECIDER.tick(rep, T0 + timedelta(minutes=10))
    assert [(n.rule, n.repeat) for n in notes] == [("repeat", True)]

    silenced, notes = DECIDER.decide(TickerState(ticker="X"), update("X", score=72), T0, (SIL,))
    assert [n.muted_by for n in notes] == ["silence:7"]
    silenced, notes = DECIDER.tick(silenced, T0 + timedelta(minutes=5), (SIL,))
    assert notes == []
    silenced, notes = DECIDER.tick(silenced, T0 + timedelta(minutes=10), (SIL,))
    assert [(n.rule, n.status, n.muted_by) for n in notes] == [FIRE_W]


def test_tick_on_a_quiet_state_changes_nothing() -> None:
    state, _ = DECIDER.decide(TickerState(ticker="X"), update("X", score=10), T0)
    assert DECIDER.tick(state, T0 + timedelta(hours=5)) == (state, [])
