"""The shadow namespace of a replay: topics and Redis keys of its own, never the live ones.

A replay named ``NAME`` writes to topics ``shadow.NAME.<live topic prefix><topic>`` and Redis
keys ``shadow:NAME:<live key prefix>...``. The shadow key prefix does not start with the live
one, so a scan of the live keys (``<live prefix>*``) never sees a shadow key, and no shadow
topic name is a live topic name. This module is the one place these names are made.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from streams.errors import ConfigurationError
from streams.store.keys import RedisKeys
from streams.topics import Topics

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")


def check_name(name: str) -> str:
    """``name`` if it is a valid shadow name (lower-case letters, digits, '-'; 1-32 long)."""
    if not NAME_PATTERN.fullmatch(name):
        raise ConfigurationError(
            f"shadow name {name!r}: use 1-32 of a-z, 0-9 and '-', starting with a letter or "
            "digit")
    return name


@dataclass(frozen=True)
class Shadow:
    """The namespace of replay ``name`` beside the live prefixes it shadows."""

    name: str
    live_topic_prefix: str = ""
    live_key_prefix: str = "tp:"

    def __post_init__(self) -> None:
        check_name(self.name)

    @property
    def topic_prefix(self) -> str:
        return f"shadow.{self.name}.{self.live_topic_prefix}"

    @property
    def key_prefix(self) -> str:
        return f"shadow:{self.name}:{self.live_key_prefix}"

    @property
    def topics(self) -> Topics:
        return Topics(self.topic_prefix)

    @property
    def keys(self) -> RedisKeys:
        return RedisKeys(self.key_prefix)

    @property
    def live_topics(self) -> Topics:
        return Topics(self.live_topic_prefix)

    @property
    def live_keys(self) -> RedisKeys:
        return RedisKeys(self.live_key_prefix)
