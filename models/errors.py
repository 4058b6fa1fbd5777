"""Errors of the ML layer.

ModelError
 ├── ModelNotFoundError   no model where one was asked for (run build-default)
 ├── ModelFormatError     a directory that is not a model this layer can serve
 ├── DataFormatError      a malformed data file row (names file and line)
 └── EngineClosedError    predict() on an engine that is not running
"""

from __future__ import annotations


class ModelError(Exception):
    """Base of every error raised by the ML layer."""


class ModelNotFoundError(ModelError):
    pass


class ModelFormatError(ModelError):
    pass


class DataFormatError(ModelError):
    def __init__(self, path: object, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line


class EngineClosedError(ModelError):
    pass
