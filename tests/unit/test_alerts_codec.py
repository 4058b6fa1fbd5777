"""The decision state survives a round trip through its SQL JSON form unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.decision import RuleState, TickerState
from alerts.store.codec import dump_state, load_state


def test_state_round_trip() -> None:
    t = datetime(2026, 2, 3, 4, 5, 6, 7, tzinfo=UTC)
    state = TickerState(
        ticker="AAPL",
        rules={"a": RuleState(phase="firing", since=t, fired_at=t, last_sent_at=t, value=71.5,
                              seq=3),
               "b": RuleState(phase="inactive", last_resolved_at=t - timedelta(hours=1))},
        history={"15m": ((t, 0.25), (t + timedelta(minutes=1), -0.5))},
        positions={"risk/0": 41, "risk/3": 7},
    )
    assert load_state("AAPL", dump_state(state)) == state
    assert load_state("MSFT", None) == TickerState(ticker="MSFT")
