"""Topic names (their only owner) and topic creation through kafka-python's admin client.

The raw input topics are those of the input sources table (:data:`streams.sources.SOURCES`);
every topic a stage reads has a dead-letter topic ``<topic>.dlq``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from streams.contracts import DocumentKind
from streams.settings import KafkaSettings
from streams.sources import SOURCES, source_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Topics:
    """Every topic tickerpulse reads or writes, with the configured prefix applied."""

    prefix: str = ""

    def _t(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def raw(self, kind: str) -> str:
        """The raw topic of the input source ``kind`` (news, social, filing, ...)."""
        return self._t(source_of(kind).topic)

    def inputs(self) -> dict[str, DocumentKind]:
        """Raw topic -> the kind of its input source, for every source."""
        return {self._t(s.topic): s.kind for s in SOURCES}

    @property
    def news_raw(self) -> str:
        return self.raw("news")

    @property
    def social_raw(self) -> str:
        return self.raw("social")

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

    @property
    def review(self) -> str:
        """Texts worth a human label (ReviewCandidate, key doc_id), read by the alerts worker."""
        return self._t("review")

    @staticmethod
    def dlq(topic: str) -> str:
        return f"{topic}.dlq"

    def all(self) -> list[str]:
        """Every topic, and the dead-letter topic of each one a stage reads."""
        read = [*self.inputs(), self.docs, self.scored]
        return read + [self.risk, self.alerts, self.review] + [self.dlq(t) for t in read]


def ensure_topics(settings: KafkaSettings, names: list[str]) -> list[str]:
    """Create the missing topics; returns the names created."""
    from kafka.admin import KafkaAdminClient, NewTopic

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
