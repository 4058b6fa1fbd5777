"""What the alert rules would have done on a stream of risk updates: pure, nothing delivered.

``tickerpulse replay report`` runs the rules over the live risk updates of the replayed range
and over the shadow ones, each from an empty decision state, each update decided at its own
``as_of`` (the shadow's is the event-time clock of the replay), and compares what fired.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from alerts.decision import Decider, Notification, TickerState
from alerts.rules import RuleSet
from streams.contracts import RiskUpdate
from streams.drift import is_drift_ticker


def fired(rules: RuleSet, updates: Iterable[RiskUpdate]) -> list[Notification]:
    """Every firing notification (first or repeat; muted ones included, marked) the rules
    decide on ``updates`` in order."""
    decider = Decider(rules)
    states: dict[str, TickerState] = {}
    out: list[Notification] = []
    for u in updates:
        if is_drift_ticker(u.ticker):
            continue
        ticker = u.ticker.upper()
        state, notes = decider.decide(states.get(ticker, TickerState(ticker)), u, u.as_of)
        states[ticker] = state
        out.extend(n for n in notes if n.status == "firing")
    return out


def compare_fired(live: Iterable[Notification], shadow: Iterable[Notification]
                  ) -> list[dict[str, Any]]:
    """Per (rule, ticker) that fired on either side: firings live and shadow, and whether
    it fired ``both``, ``only_live`` or ``only_shadow``; muted firings do not count."""
    count_live = Counter((n.rule, n.ticker) for n in live if n.muted_by is None)
    count_shadow = Counter((n.rule, n.ticker) for n in shadow if n.muted_by is None)
    rows = []
    for rule, ticker in sorted(count_live.keys() | count_shadow.keys()):
        a, b = count_live[(rule, ticker)], count_shadow[(rule, ticker)]
        rows.append({"rule": rule, "ticker": ticker, "live": a, "shadow": b,
                     "fired": "both" if a and b else "only_live" if a else "only_shadow"})
    return rows
