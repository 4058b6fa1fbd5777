"""``<ENV_NAME>_FILE``: any setting read from a file (Docker and Kubernetes secrets).

``TICKERPULSE_KAFKA__SASL_PASSWORD_FILE=/run/secrets/kafka_password`` sets
``kafka.sasl_password`` to the file's content, with trailing line breaks removed. It works for
every setting, secret or not: ``TICKERPULSE_REDIS__URL_FILE`` for a Redis URL carrying a
password, ``TICKERPULSE_ALERTS__DATABASE_URL_FILE``, or ``TICKERPULSE_ALERTS__ENDPOINTS_FILE``
holding the endpoints' JSON list. Setting both ``X`` and ``X_FILE`` is an error, as is a file
that cannot be read. The file's content never appears in an error message.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource
from pydantic_settings.exceptions import SettingsError

SUFFIX = "_file"


def _section(annotation: Any) -> type[BaseModel] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation,
                                                                       BaseModel) else None


def _is_complex(field: FieldInfo) -> bool:
    origin = typing.get_origin(field.annotation)
    return origin in (list, dict, tuple, set) or _section(field.annotation) is not None


def _read(env_name: str, path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise SettingsError(f"{env_name}: cannot read {path}: {exc.strerror}") from None


class EnvWithFiles(PydanticBaseSettingsSource):
    """The environment source, with every ``<field>_FILE`` replaced by the file's content."""

    def __init__(self, settings_cls: type[BaseSettings], env: PydanticBaseSettingsSource,
                 prefix: str, delimiter: str) -> None:
        super().__init__(settings_cls)
        self.env, self.prefix, self.delimiter = env, prefix, delimiter

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ works on the whole tree

    def __call__(self) -> dict[str, Any]:
        data = self.env()
        self._resolve(self.settings_cls, data, [])
        return data

    def _resolve(self, model: type[BaseModel], data: dict[str, Any], path: list[str]) -> None:
        fields = model.model_fields
        for key in list(data):
            field = fields.get(key)
            section = _section(field.annotation) if field is not None else None
            if section is not None and isinstance(data[key], dict):
                self._resolve(section, data[key], [*path, key])
                continue
            name = key[: -len(SUFFIX)]
            if field is not None or not key.endswith(SUFFIX) or name not in fields:
                continue
            env_name = (self.prefix + self.delimiter.join([*path, key])).upper()
            if name in data:
                raise SettingsError(f"both {env_name[: -len(SUFFIX)]} and {env_name} are set; "
                                    "set one")
            text = _read(env_name, data.pop(key))
            if _is_complex(fields[name]):
                try:
                    data[name] = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise SettingsError(f"{env_name}: the file is not JSON: {exc.msg} "
                                        f"(line {exc.lineno})") from None
            else:
                data[name] = text
