"""Every Redis key tickerpulse uses, in one place (all under ``redis.key_prefix``).

Risk keys carry a hash tag ``{r<shard>}`` (shard = CRC32 of the ticker mod :data:`RISK_SHARDS`):
a ticker's state, its counted doc ids, and its shard's index and counter are in one Redis
Cluster slot, so one commit is one atomic Lua call in one slot, on one node or a cluster.

=====================================  ======  ================================================
key                                    type    holds (TTL)
=====================================  ======  ================================================
``risk:state:{r<s>}:<T>``              hash    ``version``, ``state`` (RiskState JSON),
                                               ``update`` (latest RiskUpdate JSON), ``floor``
                                               (event time at or below which a document is
                                               refused)                     (risk.state_ttl_s)
``risk:seen:{r<s>}:<T>``               zset    doc ids counted for T, score = event time
                                               (only ids above ``floor``)       (same as state)
``risk:index:{r<s>}``                  zset    ticker -> latest score, one per shard (entries
                                               of expired tickers are removed by readers)
``risk:mentions:{r<s>}``               string  mentions counted in the shard (a metric)
``risk:volume:{r<s>}``                 zset    ticker -> ln(15-minute mention volume) + as_of /
                                               900 (the volume decayed to any time t is
                                               exp(score - t / 900): the cross-section for
                                               buzz; entries decayed below 0.01 are trimmed)
``drift``                              hash    kind -> latest drift reading (``DRIFT:<KIND>``
                                               RiskUpdate JSON)                        (1 day)
``nov:dec:<doc>``                      string  novelty verdict of a doc  (novelty.window_s)
``nov:x:<hash>``                       string  first doc id with this normalised text    (same)
``nov:sig:<doc>``                      string  MinHash signature, 64 x uint32            (same)
``nov:b:{nv<band>}:<bucket>``          zset    doc ids in an LSH bucket, score = when    (same)
``model:live``                         string  the live model pointer (JSON: path, version,
                                               promoted_at, who, source); the stream worker's
                                               score stage serves it (streams.live_model)
``model:history``                      list    every promotion, oldest first (pointer JSON)
``replay:manifest``                    string  a replay's manifest (JSON), only under a
                                               shadow prefix (streams.shadow, streams.replay)
=====================================  ======  ================================================

The novelty index touches its per-document keys one at a time (any slot), and an LSH band's
buckets with one script call per band per batch, so a band's buckets share the tag ``{nv<band>}``
(16 slots in all). A prefix that contains ``{`` would put every key in one slot: keep braces out
of ``redis.key_prefix`` on a cluster.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

RISK_SHARDS = 64  # changing it moves every ticker's keys (a fresh state)


def risk_shard(ticker: str) -> int:
    return zlib.crc32(ticker.encode()) % RISK_SHARDS


@dataclass(frozen=True)
class RedisKeys:
    prefix: str = "tp:"

    def _tag(self, ticker: str) -> str:
        return f"{{r{risk_shard(ticker)}}}"

    @property
    def drift(self) -> str:
        return f"{self.prefix}drift"

    def risk_state(self, ticker: str) -> str:
        return f"{self.prefix}risk:state:{self._tag(ticker)}:{ticker}"

    def risk_seen(self, ticker: str) -> str:
        return f"{self.prefix}risk:seen:{self._tag(ticker)}:{ticker}"

    def risk_index_of(self, ticker: str) -> str:
        return self.risk_index_shard(risk_shard(ticker))

    def risk_mentions_of(self, ticker: str) -> str:
        return self.risk_mentions_shard(risk_shard(ticker))

    def risk_index_shard(self, shard: int) -> str:
        return f"{self.prefix}risk:index:{{r{shard}}}"

    def risk_volume_of(self, ticker: str) -> str:
        return self.risk_volume_shard(risk_shard(ticker))

    def risk_volume_shard(self, shard: int) -> str:
        return f"{self.prefix}risk:volume:{{r{shard}}}"

    @property
    def risk_volume_shards(self) -> list[str]:
        return [self.risk_volume_shard(s) for s in range(RISK_SHARDS)]

    def risk_mentions_shard(self, shard: int) -> str:
        return f"{self.prefix}risk:mentions:{{r{shard}}}"

    @property
    def risk_index_shards(self) -> list[str]:
        return [self.risk_index_shard(s) for s in range(RISK_SHARDS)]

    @property
    def risk_mentions_shards(self) -> list[str]:
        return [self.risk_mentions_shard(s) for s in range(RISK_SHARDS)]

    @property
    def model_pointer(self) -> str:
        return f"{self.prefix}model:live"

    @property
    def model_history(self) -> str:
        return f"{self.prefix}model:history"

    @property
    def replay_manifest(self) -> str:
        return f"{self.prefix}replay:manifest"

    def novelty_decision(self, doc_id: str) -> str:
        return f"{self.prefix}nov:dec:{doc_id}"

    def novelty_exact(self, text_hash: str) -> str:
        return f"{self.prefix}nov:x:{text_hash}"

    def novelty_signature(self, doc_id: str) -> str:
        return f"{self.prefix}nov:sig:{doc_id}"

    def novelty_bucket(self, bucket: str) -> str:
        band, _, digest = bucket.partition(":")
        return f"{self.prefix}nov:b:{{nv{band}}}:{digest}"
