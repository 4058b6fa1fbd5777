"""faust's aiokafka transport with ``fetch.max.wait.ms`` taken from settings.

faust-streaming 0.15 creates its consumer with ``fetch_max_wait_ms=1500`` fixed. On Apache
Kafka a fetch returns as soon as data arrives, so that only bounds idle polling; on a broker
that answers fetches only when the wait is over (Tansu, measured: median delivery latency
~0.39 s at 1500 ms, 0.025 s at 100 ms) it adds that wait to every hop. The setting
``kafka.fetch_max_wait_ms`` makes it a knob like any other consumer setting.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka


def tuned_app_class(fetch_max_wait_ms: int) -> type[faust.App]:
    class TunedThread(faust_aiokafka.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> Any:
            consumer = super()._create_worker_consumer(transport)
            consumer._fetch_max_wait_ms = fetch_max_wait_ms  # read when the consumer starts
            return consumer

    class TunedConsumer(faust_aiokafka.Consumer):
        def _new_consumer_thread(self) -> Any:
            return TunedThread(self, loop=self.loop, beacon=self.beacon)

    class TunedTransport(faust_aiokafka.Transport):
        Consumer = TunedConsumer

    class TunedApp(faust.App):
        consumer_thread_class = TunedThread

        def _new_transport(self) -> Any:
            return TunedTransport(self.conf.broker_consumer, self)

    return TunedApp
