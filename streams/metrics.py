"""Process-local counters of the stream, rendered in the Prometheus text format.

The worker serves them at ``/metrics`` on its web port. Names:
``tickerpulse_input_total{topic}``, ``tickerpulse_dead_letters_total{topic,reason}``,
``tickerpulse_documents_total{novelty}``, ``tickerpulse_documents_without_ticker_total``,
``tickerpulse_scored_mentions_total``, ``tickerpulse_risk_commits_total{result}``,
``tickerpulse_redis_outages_total``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable


class Metrics:
    def __init__(self) -> None:
        self.counters: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
        self.observed: dict[str, Callable[[], int]] = {}  # read at render time

    def observe(self, name: str, read: Callable[[], int]) -> None:
        self.observed[name] = read

    def inc(self, name: str, n: int = 1, **labels: str) -> None:
        self.counters[(name, tuple(sorted(labels.items())))] += n

    def get(self, name: str, **labels: str) -> int:
        return self.counters[(name, tuple(sorted(labels.items())))]

    def total(self, name: str) -> int:
        return sum(v for (n, _), v in self.counters.items() if n == name)

    def render(self) -> str:
        lines = []
        for (name, labels), value in sorted(self.counters.items()):
            text = ",".join(f'{k}="{v}"' for k, v in labels)
            lines.append(f"tickerpulse_{name}{{{text}}} {value}" if text else
                         f"tickerpulse_{name} {value}")
        lines += [f"tickerpulse_{name} {read()}" for name, read in sorted(self.observed.items())]
        return "\n".join(lines) + "\n"
