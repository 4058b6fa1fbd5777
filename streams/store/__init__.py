"""Redis: the only owner of Redis keys (``keys``), the risk store, the novelty index and the
latest drift readings."""

from streams.store.connection import RetryingRedis, check_server, connect
from streams.store.drift_store import DriftStore
from streams.store.keys import RedisKeys
from streams.store.novelty_index import RedisNoveltyIndex
from streams.store.risk_store import CommitResult, RiskStore

__all__ = [
    "CommitResult",
    "DriftStore",
    "RedisKeys",
    "RedisNoveltyIndex",
    "RetryingRedis",
    "RiskStore",
    "check_server",
    "connect",
]
