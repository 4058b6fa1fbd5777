"""Every Redis key tickerpulse uses, in one place (all under ``redis.key_prefix``).

==============================  ======  =====================================================
key                             type    holds (TTL)
==============================  ======  =====================================================
``risk:state:<T>``              hash    ``version``, ``state`` (RiskState JSON), ``update``
                                        (latest RiskUpdate JSON)          (risk.state_ttl_s)
``risk:seen:<T>``               zset    doc ids already counted for T, score = when
                                        (trimmed to risk.seen_window_s, risk.state_ttl_s)
``risk:index``                  zset    ticker -> latest score (entries of expired tickers
                                        are removed lazily by readers)
``risk:mentions``               string  mentions counted, all tickers (a metric)
``nov:dec:<doc>``               string  novelty verdict of a doc (stream.novelty_window_s)
``nov:x:<hash>``                string  first doc id with this normalised text   (same)
``nov:sig:<doc>``               string  MinHash signature, 64 x uint32           (same)
``nov:b:<band>:<bucket>``       zset    doc ids in an LSH bucket, score = when   (same)
==============================  ======  =====================================================

The novelty script (``lua/novelty.lua``) builds the ``nov:*`` key names itself from the
prefix, with the same layout as the methods below; so this suits a single Redis (or a
cluster only with a hash-tagged prefix such as ``{tp}:``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RedisKeys:
    prefix: str = "tp:"

    def risk_state(self, ticker: str) -> str:
        return f"{self.prefix}risk:state:{ticker}"

    def risk_seen(self, ticker: str) -> str:
        return f"{self.prefix}risk:seen:{ticker}"

    @property
    def risk_index(self) -> str:
        return f"{self.prefix}risk:index"

    @property
    def risk_mentions(self) -> str:
        return f"{self.prefix}risk:mentions"

    def novelty_decision(self, doc_id: str) -> str:
        return f"{self.prefix}nov:dec:{doc_id}"

    def novelty_exact(self, text_hash: str) -> str:
        return f"{self.prefix}nov:x:{text_hash}"

    @property
    def novelty_signature_prefix(self) -> str:
        return f"{self.prefix}nov:sig:"

    def novelty_bucket(self, band: str) -> str:
        return f"{self.prefix}nov:b:{band}"
