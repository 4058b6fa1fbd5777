"""Redis: the only owner of Redis keys (``keys``), the risk store and the novelty index."""

from streams.store.connection import RetryingRedis, check_server, connect
from streams.store.keys import RedisKeys
from streams.store.novelty_index import RedisNoveltyIndex
from streams.store.risk_store import CommitResult, RiskStore

__all__ = [
    "CommitResult",
    "RedisKeys",
    "RedisNoveltyIndex",
    "RetryingRedis",
    "RiskStore",
    "check_server",
    "connect",
]
