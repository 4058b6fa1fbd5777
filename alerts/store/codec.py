"""JSON (de)serialisation of the decision state kept in ``rule_states``."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from alerts.decision import RuleState, TickerState
from streams.contracts import RiskUpdate

_DT_FIELDS = ("since", "fired_at", "last_sent_at", "last_resolved_at")


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def dump_state(state: TickerState) -> str:
    rules: dict[str, Any] = {}
    for name, st in state.rules.items():
        raw = asdict(st)
        for key in _DT_FIELDS:
            raw[key] = raw[key].isoformat() if raw[key] is not None else None
        rules[name] = raw
    history = {h: [[t.isoformat(), v] for t, v in samples] for h, samples in state.history.items()}
    last = state.last_update.model_dump(mode="json") if state.last_update else None
    doc = {"rules": rules, "history": history, "positions": dict(state.positions),
           "last_update": last}
    return json.dumps(doc, sort_keys=True)


def load_state(ticker: str, text: str | None, version: int = 0) -> TickerState:
    """The state of ``ticker`` from its JSON; ``version`` is the row's (0: no row)."""
    if not text:
        return TickerState(ticker=ticker, version=version)
    raw = json.loads(text)
    rules = {}
    for name, fields in raw.get("rules", {}).items():
        for key in _DT_FIELDS:
            fields[key] = _dt(fields.get(key))
        rules[name] = RuleState(**fields)
    history = {
        h: tuple((datetime.fromisoformat(t), float(v)) for t, v in samples)
        for h, samples in raw.get("history", {}).items()
    }
    positions = {k: int(v) for k, v in raw.get("positions", {}).items()}
    last = raw.get("last_update")
    return TickerState(ticker=ticker, rules=rules, history=history, positions=positions,
                       last_update=RiskUpdate.model_validate(last) if last else None,
                       version=version)
