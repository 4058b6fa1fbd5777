"""The faust app: three agents moving records between topics and the stage objects.

``ingest``    every raw topic of :data:`streams.sources.SOURCES` (news.raw, social.raw,
              filings.raw) -> docs (key doc_id)             | bad input -> <topic>.dlq
``score``     docs -> take(n, within) -> engine -> scored (key ticker) | bad -> docs.dlq
``aggregate`` scored -> Redis (idempotent) -> risk (key ticker)        | bad -> scored.dlq

Every agent reads raw bytes and decodes inside its stage (:mod:`streams.processing`): a
message that cannot be decoded, or that makes the stage raise, is dead-lettered with its
reason and source coordinates and the rest of its batch goes on. Every agent runs at
concurrency 1 and scales by partitions (faust #606: with concurrency > 1 offsets are
committed past messages still in flight). ``take_events`` acks a batch only after the loop
body finishes, i.e. after the Redis write and the sends (records and dead letters); faust
flushes the producer before it commits. A batch is never abandoned half-way: a cancel
(shutdown) waits for the batch to finish first, and a failure of a service (Redis, broker) is
retried and finally ends the process without committing (``os._exit``), so the batch is
consumed again after a restart.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol, TypeVar

import faust

from streams.codec import DeadLetter, Limits
from streams.contracts import DocumentKind
from streams.errors import ConfigurationError
from streams.faust_transport import tuned_app_class
from streams.health import Check, liveness, readiness
from streams.kafka_config import faust_broker, faust_credentials
from streams.metrics import CONTENT_TYPE, ConsumerLag, Metrics, lag_of
from streams.processing import Aggregate, Ingest, Output, RawMessage, Score, isolated
from streams.settings import KafkaSettings, StreamSettings
from streams.topics import Topics

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRIES_BEFORE_EXIT = 5
EXIT_CODE_STAGE_FAILED = 70
EXIT_CODE_CONFIGURATION = 78  # sysexits EX_CONFIG: no retry can help


def faust_settings(kafka: KafkaSettings, stream: StreamSettings) -> dict[str, Any]:
    """faust configuration from our settings (timeouts tuned via KafkaSettings)."""
    return {
        "broker": faust_broker(kafka),
        "broker_credentials": faust_credentials(kafka),  # TLS/SASL: streams/kafka_config.py
        "broker_rebalance_timeout": kafka.rebalance_timeout_s,
        "broker_session_timeout": kafka.session_timeout_s,
        "broker_heartbeat_interval": kafka.heartbeat_interval_s,
        "broker_commit_interval": stream.commit_interval_s,
        "broker_commit_every": 10_000,
        "consumer_auto_offset_reset": "earliest",
        "topic_partitions": kafka.partitions,
        "topic_replication_factor": kafka.replication_factor,
        "web_enabled": stream.web_port > 0,
        "web_port": stream.web_port or 6066,
        "web_host": stream.web_host,
        "autodiscover": False,
        "store": "memory://",
        "datadir": stream.data_dir,
        "producer_linger": 0.005,
    }


async def run_stage(stage: Callable[[], Awaitable[T]], what: str) -> T:
    """Run one batch's side effects to completion, even if the agent is being cancelled.

    Only failures of services reach here (a message's own failure is isolated and
    dead-lettered inside the stage, see :func:`streams.processing.isolated`): retried with
    backoff, then the process exits without committing, so the batch is read again."""
    for attempt in range(1, RETRIES_BEFORE_EXIT + 1):
        task = asyncio.ensure_future(stage())
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            await task  # finish this batch before take_events acks it, then stop
            raise
        except ConfigurationError as exc:  # e.g. Redis refused rotated credentials
            log.critical("%s cannot go on: %s", what, exc)
            logging.shutdown()
            os._exit(EXIT_CODE_CONFIGURATION)
        except Exception:
            log.exception("%s failed (attempt %d of %d)", what, attempt, RETRIES_BEFORE_EXIT)
            await asyncio.sleep(min(2.0, 0.1 * 2**attempt))
    log.critical("%s keeps failing: exiting without committing this batch", what)
    logging.shutdown()
    os._exit(EXIT_CODE_STAGE_FAILED)


def _raw(app: faust.App, *names: str) -> faust.TopicT:
    return app.topic(*names, key_type=bytes, value_type=bytes,
                     key_serializer="raw", value_serializer="raw")


Outgoing = tuple[str, bytes | None, bytes, Any]  # topic, key, value, headers


async def send_all(app: faust.App, messages: list[Outgoing]) -> None:
    """Send and wait for the broker's acks: a batch is acked only once its output is."""
    futures = [await app.producer.send(topic, key, value, None, None, headers)
               for topic, key, value, headers in messages]
    await asyncio.gather(*futures)


def dead_letter_message(letter: DeadLetter) -> Outgoing:
    """A dead letter as the message for ``<source topic>.dlq`` (headers carry the why/where)."""
    return (Topics.dlq(letter.topic), letter.key, letter.value, letter.headers())


class Stage(Protocol):
    limits: Limits
    metrics: Metrics

    async def handle(self, batch: Sequence[RawMessage]) -> Output: ...


def _add_agent(
    app: faust.App, name: str, sources: list[str], stage: Stage, out_topic: str, n: int,
    within: float, kind_of: Mapping[str, DocumentKind] | None = None,
) -> None:
    """One agent: raw bytes in (no faust deserialisation that could fail), the stage's
    ``handle`` with isolation, its records and dead letters sent, then the batch acked."""
    kinds = dict(kind_of or {})

    @app.agent(_raw(app, *sources), name=name, concurrency=1)
    async def agent(s: Any) -> None:  # a faust Stream
        async for events in s.take_events(n, within):
            batch = [RawMessage(e.message.topic, e.message.partition, e.message.offset,
                                e.message.key, e.message.value, kinds.get(e.message.topic))
                     for e in events]

            async def run(batch: list[RawMessage] = batch) -> None:
                out = await isolated(stage.handle, batch, stage.limits, stage.metrics)
                await send_all(app, [(out_topic, key, value, None) for key, value in out.records]
                               + [dead_letter_message(letter) for letter in out.dead]
                               + [(topic, key, value, None) for topic, key, value in out.side])

            await run_stage(run, name)


def _add_ingest(app: faust.App, topics: Topics, ingest: Ingest, n: int, within: float) -> None:
    kind_of = topics.inputs()  # raw topic -> its source's kind
    _add_agent(app, "ingest", list(kind_of), ingest, topics.docs, n, within, kind_of)


def _add_score(app: faust.App, topics: Topics, score: Score, n: int, within: float) -> None:
    _add_agent(app, "score", [topics.docs], score, topics.scored, n, within)


def _add_aggregate(
    app: faust.App, topics: Topics, aggregate: Aggregate, n: int, within: float
) -> None:
    _add_agent(app, "aggregate", [topics.scored], aggregate, topics.risk, n, within)


def create_app(
    kafka: KafkaSettings,
    stream: StreamSettings,
    metrics: Metrics,
    ingest: Ingest | None = None,
    score: Score | None = None,
    aggregate: Aggregate | None = None,
    checks: Mapping[str, Check] | None = None,
) -> faust.App:
    """A faust app running the stages given (None = that agent does not run here).

    ``checks``: readiness checks besides the consumer's own (Redis, the engine), served with
    the metrics on the web port.
    """
    app = tuned_app_class(kafka.fetch_max_wait_ms)(stream.app_id, **faust_settings(kafka, stream))
    topics = Topics(kafka.topic_prefix)
    batch = stream.batch
    if ingest is not None:
        _add_ingest(app, topics, ingest, batch.ingest, batch.within_s)
    if score is not None:
        _add_score(app, topics, score, batch.score, batch.within_s)
    if aggregate is not None:
        _add_aggregate(app, topics, aggregate, batch.aggregate, batch.within_s)

    _add_monitoring(app, metrics, checks or {})
    return app


def consumer_lag(app: faust.App) -> Iterator[tuple[str, int, int]]:
    """(topic, partition, lag) of the partitions assigned to this worker's consumer."""
    consumer: Any = app.consumer  # faust keeps these offsets on the base Consumer only
    committed, read = consumer._committed_offset, consumer._read_offset  # noqa: SLF001
    for tp in consumer.assignment():
        last_read = read.get(tp)
        lag = lag_of(consumer.highwater(tp), committed.get(tp),
                     None if last_read is None else last_read + 1)
        if lag is not None:
            yield tp.topic, tp.partition, lag


def _add_monitoring(app: faust.App, metrics: Metrics, checks: Mapping[str, Check]) -> None:
    """``/metrics``, ``/livez`` and ``/readyz`` on the worker's web port (see streams.health)."""
    metrics.register(ConsumerLag(lambda: consumer_lag(app)))
    joined = asyncio.Event()

    async def _assigned(sender: object, *args: object, **kwargs: object) -> None:
        joined.set()

    app.on_partitions_assigned.connect(_assigned)  # type: ignore[arg-type]

    async def kafka_ready() -> str | None:
        app.consumer.assignment()  # raises while the consumer is not started
        return None if joined.is_set() else "consumer has not joined its group yet"

    all_checks = {"kafka": kafka_ready, **checks}

    @app.page("/metrics")
    async def metrics_page(self: Any, request: Any) -> Any:
        return self.bytes(metrics.render().encode(), headers={"Content-Type": CONTENT_TYPE})

    @app.page("/livez")
    async def livez_page(self: Any, request: Any) -> Any:
        status, body = liveness()
        return self.json(body, status=status)

    @app.page("/readyz")
    async def readyz_page(self: Any, request: Any) -> Any:
        status, body = await readiness(all_checks)
        return self.json(body, status=status)
