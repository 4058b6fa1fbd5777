"""The ``drift`` rule metric: reads the DRIFT:<KIND> records only, fires once per episode."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.decision import Decider, TickerState
from alerts.errors import RulesError
from alerts.rules import parse_rules
from streams.contracts import RiskUpdate

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
RULES = """
version: 1
rules:
  - name: feed-drift
    severity: warning
    scope: {all: true}
    condition: {metric: drift, enter: 0.25, exit: 0.1}
    cooldown: 10m
  - name: quiet-buzz
    severity: info
    scope: {all: true}
    condition: {metric: buzz_z, direction: below, enter: 0.5, exit: 1.0}
"""


def _update(ticker: str, psi: float = 0.0, buzz_z: float = 2.0) -> RiskUpdate:
    return RiskUpdate(ticker=ticker, as_of=T0, score=0.0, components={"psi": psi},
                      sentiment={}, volume={}, buzz_z=buzz_z, negative_mentions={},
                      mentions_total=1, model_version="m", trigger_doc_id="d")


def test_drift_fires_once_per_episode_and_resolves() -> None:
    decider = Decider(parse_rules(RULES))
    state = TickerState("DRIFT:NEWS")
    fired = []
    for minute, psi in enumerate([0.05, 0.3, 0.6, 0.4, 0.2, 0.05, 0.3]):
        state, notes = decider.decide(state, _update("DRIFT:NEWS", psi),
                                      T0 + timedelta(minutes=minute))
        fired += [(minute, n.rule, n.status, n.value) for n in notes]
    # 0.3 enters; 0.6/0.4/0.2 stay above exit (no repeat); 0.05 resolves; the new episode at
    # minute 6 falls inside the 10-minute cooldown, so it waits
    assert fired == [(1, "feed-drift", "firing", 0.3), (5, "feed-drift", "resolved", 0.05)]
    state, notes = decider.decide(state, _update("DRIFT:NEWS", 0.3), T0 + timedelta(minutes=16))
    assert [(n.rule, n.status) for n in notes] == [("feed-drift", "firing")]


def test_drift_rules_ignore_tickers_and_risk_rules_ignore_drift_records() -> None:
    decider = Decider(parse_rules(RULES))
    _, notes = decider.decide(TickerState("AAPL"), _update("AAPL", psi=5.0, buzz_z=2.0), T0)
    assert notes == []  # a ticker's components never feed the drift rule
    _, notes = decider.decide(TickerState("DRIFT:NEWS"), _update("DRIFT:NEWS", 0.0, 0.0), T0)
    assert notes == []  # buzz_z 0 of a drift record is no quiet ticker
    _, notes = decider.decide(TickerState("AAPL"), _update("AAPL", buzz_z=0.0), T0)
    assert [n.rule for n in notes] == ["quiet-buzz"]


def test_drift_rule_per_kind_by_scope() -> None:
    rules = RULES.replace("scope: {all: true}\n    condition: {metric: drift",
                          "scope: {ticker: DRIFT:SOCIAL}\n    condition: {metric: drift")
    decider = Decider(parse_rules(rules))
    _, news = decider.decide(TickerState("DRIFT:NEWS"), _update("DRIFT:NEWS", 1.0), T0)
    _, social = decider.decide(TickerState("DRIFT:SOCIAL"), _update("DRIFT:SOCIAL", 1.0), T0)
    assert news == [] and [n.ticker for n in social] == ["DRIFT:SOCIAL"]


@pytest.mark.parametrize("condition", ["{metric: drift, enter: 0, exit: 0}",
                                       "{metric: drift, enter: 0.2, exit: 0.1, horizon: 1h}"])
def test_invalid_drift_conditions_are_refused(condition: str) -> None:
    text = f"version: 1\nrules:\n  - name: d\n    severity: info\n    scope: {{all: true}}\n" \
           f"    condition: {condition}\n"
    with pytest.raises(RulesError):
        parse_rules(text)
