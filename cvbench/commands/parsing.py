"""click's side of the shared value parsers (cvbench/config/values.py): option types and the
translation of a parser's ValueError into a one-line usage error naming the option."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import click

from cvbench.config.values import (
    MAX_CORES,
    MAX_CPU_ID,
    MAX_WORKERS,
    parse_cores,
    parse_cpu_list,
    parse_duration,
    parse_percent,
    parse_workers,
)

__all__ = [
    "MAX_CORES",
    "MAX_CPU_ID",
    "MAX_WORKERS",
    "FiniteFloat",
    "Percent",
    "as_param",
    "parse_cores",
    "parse_cpu_list",
    "parse_duration",
    "parse_percent",
    "parse_workers",
]


class Percent(click.ParamType):
    """A click type over parse_percent."""

    name = "percent"

    def __init__(self, low: float = 0.0, high: float = 1000.0) -> None:
        self.low, self.high = low, high

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float):
            return value
        try:
            return parse_percent(str(value), self.low, self.high)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def as_param(fn: Callable[..., Any], value: str, name: str, **kw: Any) -> Any:
    """Run a parser; its ValueError becomes click's one-line usage error naming the option."""
    try:
        return fn(value, **kw)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=name) from None


class FiniteFloat(click.FloatRange):
    """click.FloatRange that also refuses nan and inf (FloatRange lets nan through, and the
    run then failed with a bare float error)."""

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number
