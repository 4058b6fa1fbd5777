"""Scale-out by partitions: a second worker joins mid-stream; each mention still counts once."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path

import pytest

from streams.feed import Feed
from streams.producer import publish
from support.pipeline import PipelineRun as Run
from support.pipeline import explicit_pairs, free_port
from tickerpulse.worker_process import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    from models.testing import tiny_model_dir

    root = tmp_path_factory.mktemp("model")
    return str(tiny_model_dir(root)), str(root / "cache")


def scored_by(port: int) -> int:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith("tickerpulse_scored_mentions_total"))


async def test_second_worker_joins_mid_stream_and_nothing_counts_twice(
    tiny_model: tuple[str, str], tmp_path: Path, kafka_bootstrap: str, redis_url: str,
    redis_prefix: str,
) -> None:
    ports = free_port(), free_port()
    run = Run(kafka_bootstrap, redis_url, redis_prefix, tiny_model, tmp_path,
              TICKERPULSE_STREAM__WEB_PORT=str(ports[0]))
    second = WorkerProcess({**run.env, "TICKERPULSE_STREAM__WEB_PORT": str(ports[1])},
                           tmp_path / "worker2.log")
    try:
        messages = list(Feed(seed=17, run_id=run.name).messages(6_000))
        run.worker.start().wait_ready()
        producing = asyncio.ensure_future(publish(messages, run.kafka, rate=400))
        await run.counted_at_least(1_000, timeout_s=60)
        second.start().wait_ready()
        await producing
        pairs = await run.wait_all_counted({m.truth.doc_id for m in messages})
        await run.assert_exactly_once(pairs)
        assert explicit_pairs(messages) <= pairs
        assert scored_by(ports[0]) > 0 and scored_by(ports[1]) > 0, "both workers took part"
    finally:
        second.stop()
        await run.close()
