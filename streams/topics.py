"""Topic names (their only owner) and topic creation through kafka-python's admin client."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from streams.settings import KafkaSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Topics:
    """Every topic tickerpulse reads or writes, with the configured prefix applied."""

    prefix: str = ""

    def _t(self, name: str) -> str:
        return f"{self.prefix}{name}"

    @property
    def news_raw(self) -> str:
        return self._t("news.raw")

    @property
    def social_raw(self) -> str:
        return self._t("social.raw")

    @property
    def docs(self) -> str:
        return self._t("docs")

    @property
    def scored(self) -> str:
        return self._t("scored")

    @property
    def risk(self) -> str:
        return self._t("risk")

    @property
    def alerts(self) -> str:
        return self._t("alerts")

    @staticmethod
    def dlq(topic: str) -> str:
        return f"{topic}.dlq"

    def all(self) -> list[str]:
        base = [self.news_raw, self.social_raw, self.docs, self.scored, self.risk, self.alerts]
        return base + [self.dlq(t) for t in (self.news_raw, self.social_raw, self.docs,
                                              self.scored)]


def ensure_topics(settings: KafkaSettings, names: list[str]) -> list[str]:
    """Create the missing topics; returns the names created."""
    from kafka.admin import KafkaAdminClient, NewTopic  # type: ignore[import-untyped]

    from streams.kafka_config import kafka_python_kwargs

    admin = KafkaAdminClient(**kafka_python_kwargs(settings), client_id="tp-admin")
    try:
        existing = set(admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            admin.create_topics(
                [
                    NewTopic(n, settings.partitions, settings.replication_factor)
                    for n in missing
                ]
            )
            log.info("created topics %s", missing)
        return missing
    finally:
        admin.close()
