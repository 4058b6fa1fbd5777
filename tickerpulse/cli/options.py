"""Option types shared by commands."""

from __future__ import annotations

from typing import Any

import click


def _backends() -> tuple[str, ...]:
    from models.loader import BACKENDS  # the one list; imported late (it loads torch)

    return tuple(BACKENDS)


class Backend(click.ParamType):
    """An inference backend name, checked against ``models.loader.BACKENDS``."""

    name = "backend"

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str | None:
        return "[" + "|".join(_backends()) + "]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if value in _backends():
            return str(value)
        self.fail(f"{value!r} is not one of {', '.join(_backends())}", param, ctx)


BACKEND = Backend()
BACKEND_HELP = "Inference backend [default: engine.backend]."
