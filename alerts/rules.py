"""The YAML rules file: strict models, and a loader whose errors name file, line and field.

A file looks like ``alerts/examples/rules.yaml``. Each rule watches one metric of the
per-ticker :class:`~streams.contracts.RiskUpdate` with separate enter/exit thresholds
(hysteresis). Rules are validated at start-up; nothing unknown is tolerated.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from alerts.errors import RulesError

Severity = Literal["info", "warning", "critical"]
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}
Metric = Literal["score", "sentiment", "sentiment_change", "buzz_z", "negative_mentions",
                 "drift"]
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> timedelta:
    """``90`` (seconds), ``"30s"``, ``"5m"``, ``"1.5h"``, ``"1d"`` -> timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    else:
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 5m, 1h, 1d)")
    if seconds < 0:
        raise ValueError("durations must not be negative")
    return timedelta(seconds=seconds)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Scope(_Strict):
    """Exactly one of: every ticker, a named watchlist, a named sector, one ticker."""

    all: bool = False
    watchlist: str | None = None
    sector: str | None = None
    ticker: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Scope:
        chosen = [self.all, self.watchlist is not None, self.sector, self.ticker is not None]
        if sum(bool(c) for c in chosen) != 1:
            raise ValueError("set exactly one of all: true, watchlist, sector, ticker")
        return self


class Condition(_Strict):
    """``metric`` crosses ``enter`` to become active and ``exit`` to stop (hysteresis).

    ``direction: above`` is active from ``value >= enter`` until ``value < exit``;
    ``below`` from ``value <= enter`` until ``value > exit``. ``horizon`` selects the
    sentiment / negative-mentions horizon (e.g. 15m, 1h, 1d); ``sentiment_change`` compares
    the sentiment at that horizon now with its value ``window`` ago. ``drift`` is the feed
    drift (PSI) of a document kind, read from the ``DRIFT:<KIND>`` records the stream worker
    publishes (``streams.drift``); it looks at those records only, the other metrics never.
    """

    metric: Metric
    direction: Literal["above", "below"] = "above"
    enter: float
    exit: float
    horizon: str | None = None
    window: timedelta | None = None

    @field_validator("window", mode="before")
    @classmethod
    def _window(cls, value: Any) -> timedelta | None:
        return None if value is None else parse_duration(value)

    @model_validator(mode="after")
    def _consistent(self) -> Condition:
        if self.direction == "above" and self.exit > self.enter:
            raise ValueError("direction above needs exit <= enter")
        if self.direction == "below" and self.exit < self.enter:
            raise ValueError("direction below needs exit >= enter")
        needs_horizon = self.metric in ("sentiment", "sentiment_change", "negative_mentions")
        if needs_horizon and not self.horizon:
            raise ValueError(f"metric {self.metric} needs a horizon (e.g. 1h)")
        if not needs_horizon and self.horizon:
            raise ValueError(f"metric {self.metric} takes no horizon")
        if (self.metric == "sentiment_change") != (self.window is not None):
            raise ValueError("window is required by sentiment_change and only by it")
        if self.metric == "drift" and (self.enter <= 0 or self.exit < 0):
            raise ValueError("drift thresholds are PSI values above 0 (e.g. enter 0.25)")
        if self.metric == "score" and not (0 <= self.enter <= 100 and 0 <= self.exit <= 100):
            raise ValueError("score thresholds lie in 0..100")
        return self


class Rule(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    family: str = Field(
        description="Inhibition family: a firing rule mutes lower severities of its family "
        "(defaults to the name)."
    )
    description: str = ""
    severity: Severity
    scope: Scope
    condition: Condition
    for_: timedelta = Field(default=timedelta(0), alias="for")
    cooldown: timedelta = timedelta(0)
    repeat_interval: timedelta | None = None
    send_resolved: bool = True

    @field_validator("for_", "cooldown", "repeat_interval", mode="before")
    @classmethod
    def _durations(cls, value: Any) -> timedelta | None:
        return None if value is None else parse_duration(value)

    @model_validator(mode="before")
    @classmethod
    def _family_defaults_to_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("family") is None and "name" in data:
            return {**data, "family": data["name"]}
        return data


class RulesFile(_Strict):
    version: Literal[1]
    watchlists: dict[str, list[str]] = Field(default_factory=dict)
    sectors: dict[str, list[str]] = Field(default_factory=dict)
    rules: list[Rule] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> RulesFile:
        names = [r.name for r in self.rules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate rule names: {duplicates}")
        for i, rule in enumerate(self.rules):
            if rule.scope.watchlist and rule.scope.watchlist not in self.watchlists:
                raise _RefError(("rules", i, "scope", "watchlist"), rule.scope.watchlist)
            if rule.scope.sector and rule.scope.sector not in self.sectors:
                raise _RefError(("rules", i, "scope", "sector"), rule.scope.sector)
        return self


class _RefError(ValueError):
    def __init__(self, loc: tuple[Any, ...], name: str) -> None:
        super().__init__(f"unknown {loc[-1]} {name!r}")
        self.loc = loc


@dataclass(frozen=True)
class RuleSet:
    """Validated rules plus their version (a hash of the file's bytes)."""

    rules: tuple[Rule, ...]
    watchlists: dict[str, frozenset[str]]
    sectors: dict[str, frozenset[str]]
    version: str
    source: str = "<memory>"
    text: str = ""

    def applies(self, rule: Rule, ticker: str) -> bool:
        scope = rule.scope
        if scope.all:
            return True
        if scope.ticker is not None:
            return scope.ticker.upper() == ticker.upper()
        if scope.watchlist is not None:
            return ticker.upper() in self.watchlists[scope.watchlist]
        return ticker.upper() in self.sectors[scope.sector or ""]

    def by_name(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)


# ---- loading with line numbers ------------------------------------------------------------


def _plain(node: yaml.Node, path: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.safe_load(yaml.serialize(key_node))
            if key in out:
                raise RulesError("", key_node.start_mark.line + 1, str(key), "duplicate key")
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _plain(value_node, (*path, key), lines)
            lines[(*path, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item, (*path, i), lines) for i, item in enumerate(node.value)]
    return yaml.safe_load(yaml.serialize(node))


def _line_of(loc: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def parse_rules(text: str, source: str = "<memory>") -> RuleSet:
    """Validate a rules document; raises :class:`RulesError` naming file, line and field."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise RulesError(source, line, "", f"invalid YAML: {exc}") from None
    if node is None:
        raise RulesError(source, 1, "", "the rules file is empty")
    lines: dict[tuple[Any, ...], int] = {}
    try:
        data = _plain(node, (), lines)
        parsed = RulesFile.model_validate(data)
    except RulesError as exc:
        raise RulesError(source, exc.line, exc.field, exc.message) from None
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function")))
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, _RefError):
            loc = ctx_error.loc
        field = ".".join(str(p) for p in loc) or "(document)"
        raise RulesError(source, _line_of(loc, lines), field, err["msg"]) from None
    return RuleSet(
        rules=tuple(parsed.rules),
        watchlists={k: frozenset(t.upper() for t in v) for k, v in parsed.watchlists.items()},
        sectors={k: frozenset(t.upper() for t in v) for k, v in parsed.sectors.items()},
        version=hashlib.sha256(text.encode("utf-8")).hexdigest()[:16],
        source=source,
        text=text,
    )


EXAMPLE_RULES = Path(__file__).resolve().parent / "examples" / "rules.yaml"


def load_rules(path: str | Path) -> RuleSet:
    """Load and validate a rules file; an empty path means the packaged example rules."""
    file = Path(path) if str(path) else EXAMPLE_RULES
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(str(file), None, "", f"cannot read rules file: {exc.strerror}") from None
    return parse_rules(text, str(file))
