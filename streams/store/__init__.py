"""Redis: the only owner of Redis keys (``keys``), the risk store and the novelty index."""

from streams.store.connection import RetryingRedis, connect
from streams.store.keys import RedisKeys
from streams.store.novelty_index import RedisNoveltyIndex
from streams.store.risk_store import CommitOutcome, RiskStore

__all__ = [
    "CommitOutcome",
    "RedisKeys",
    "RedisNoveltyIndex",
    "RetryingRedis",
    "RiskStore",
    "connect",
]
