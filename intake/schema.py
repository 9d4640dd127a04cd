"""The configuration's checker: frozen dataclasses whose fields are checked on construction.

A field's annotation says what it takes: ``str``, ``int``, ``bool``, ``date``, ``Literal[...]``,
``list[...]``, ``tuple[...]``, ``dict[str, ...]`` or a :class:`Model`, optionally ``Annotated`` with
the rules :class:`Range`, :class:`NonEmpty`, :class:`Pattern` and :class:`Check`. Every problem is
collected as one ``key: what is wrong`` line (keys dotted, list items by index:
``profiles.helpdesk.hours.0.periods``), so ``uketsuke check-config`` can list them all.

It replaces pydantic for one reason: start-up. Importing pydantic and building the schemas took
longer than the whole start of ``uketsuke calendar`` may take (``bench/cli_start.md``); this
module costs a millisecond. It implements only what ``intake.config`` uses.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal, Self

from intake.configchecks import CROSS_CHECKS

__all__ = ["Check", "ConfigError", "Model", "NonEmpty", "Pattern", "Range", "as_data", "build"]


class ConfigError(Exception):
    """Configuration problems, each phrased for one line on stderr: ``key: what is wrong``."""

    def __init__(self, *problems: str) -> None:
        super().__init__(*problems)
        self.problems: list[str] = list(problems) or ["invalid configuration"]

    def __str__(self) -> str:
        more = len(self.problems) - 1
        suffix = f" (and {more} more: `uketsuke check-config` lists them)" if more else ""
        return self.problems[0] + suffix


class Model:
    """Base of the frozen dataclasses below: fields are checked and converted on construction."""

    def __post_init__(self) -> None:
        problems: list[str] = []
        hints = _hints(type(self))
        for item in dataclasses.fields(self):  # type: ignore[arg-type]
            value = _item(getattr(self, item.name), hints[item.name], item.name, problems)
            object.__setattr__(self, item.name, value)
        problems += self._problems()
        cross_check = CROSS_CHECKS.get(type(self).__name__)
        if cross_check is not None:
            problems += cross_check(self)
        if problems:
            raise ConfigError(*problems)

    def _problems(self) -> list[str]:
        """Checks across fields; run even when some fields are wrong (values may be raw)."""
        return []

    def model_copy(self, *, update: dict[str, Any] | None = None) -> Self:
        """A checked copy with some fields replaced."""
        return dataclasses.replace(self, **(update or {}))  # type: ignore[type-var]


def build(cls: type[Model], data: Any) -> Any:
    """``cls`` from plain data (a TOML table); raises ConfigError listing every problem."""
    problems: list[str] = []
    built = _item(data, cls, "", problems)
    if problems:
        raise ConfigError(*problems)
    return built


def as_data(value: Any) -> Any:
    """A model as plain TOML data: tables as dicts, tuples as lists, dates kept as dates."""
    if isinstance(value, Model):
        return {f.name: as_data(getattr(value, f.name)) for f in dataclasses.fields(value)}  # type: ignore[arg-type]
    if isinstance(value, list | tuple):
        return [as_data(v) for v in value]
    if isinstance(value, dict):
        return {k: as_data(v) for k, v in value.items()}
    return value


class _Bad(Exception):
    """One problem at the key being converted."""


@dataclass(frozen=True)
class Range:
    ge: float | None = None
    le: float | None = None

    def check(self, value: float) -> None:
        if self.ge is not None and value < self.ge:
            raise _Bad(f"Input should be greater than or equal to {self.ge}")
        if self.le is not None and value > self.le:
            raise _Bad(f"Input should be less than or equal to {self.le}")


@dataclass(frozen=True)
class NonEmpty:
    def check(self, value: Any) -> None:
        if not value:
            raise _Bad("should not be empty" if isinstance(value, str) else "needs at least 1 item")


@dataclass(frozen=True)
class Pattern:
    regex: str
    what: str

    def check(self, value: str) -> None:
        if not re.fullmatch(self.regex, value):
            raise _Bad(f"{value!r}: only {self.what}")


@dataclass(frozen=True)
class Check:
    """A rule written as a function that raises ValueError with the message."""

    function: Callable[[Any], object]

    def check(self, value: Any) -> None:
        try:
            self.function(value)
        except ValueError as exc:
            raise _Bad(str(exc)) from None


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls, include_extras=True)
    return hints


def _join(key: str, sub: object) -> str:
    return f"{key}.{sub}" if key else str(sub)


def _item(value: Any, hint: Any, key: str, problems: list[str]) -> Any:
    """``value`` as ``hint`` wants it; a problem is appended as ``key: message``."""
    try:
        return _convert(value, hint, key, problems)
    except _Bad as bad:
        problems.append(f"{key or '(top level)'}: {bad}")
        return value


def _convert(value: Any, hint: Any, key: str, problems: list[str]) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        before = len(problems)
        value = _convert(value, args[0], key, problems)
        if len(problems) == before:
            for rule in args[1:]:
                rule.check(value)
        return value
    if origin is Literal:
        if isinstance(value, str) and value in args:
            return value
        choices = ", ".join(repr(a) for a in args[:-1]) + f" or {args[-1]!r}"
        raise _Bad(f"Input should be {choices}")
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise _Bad("Input should be a list")
        if origin is list:
            return [_item(v, args[0], _join(key, i), problems) for i, v in enumerate(value)]
        if len(value) != len(args):
            raise _Bad(f"Input should be a list of {len(args)} values")
        return tuple(
            _item(v, a, _join(key, i), problems)
            for i, (v, a) in enumerate(zip(value, args, strict=True))
        )
    if origin is dict:
        if not isinstance(value, dict):
            raise _Bad("Input should be a table")
        return {str(k): _item(v, args[1], _join(key, k), problems) for k, v in value.items()}
    if isinstance(hint, type) and issubclass(hint, Model):
        return _model(hint, value, key, problems)
    return _scalar(value, hint)


def _model(cls: type[Model], value: Any, key: str, problems: list[str]) -> Any:
    if isinstance(value, cls):
        return value
    if not isinstance(value, dict):
        raise _Bad("Input should be a table")
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    names = {f.name for f in fields}
    problems += [
        f"{_join(key, k)}: Extra inputs are not permitted" for k in value if k not in names
    ]
    missing = [
        f"{_join(key, f.name)}: Field required"
        for f in fields
        if f.name not in value
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        problems += missing
        return value
    try:
        return cls(**{k: v for k, v in value.items() if k in names})
    except ConfigError as error:
        problems.extend(_join(key, problem) for problem in error.problems)
        return value


def _scalar(value: Any, hint: Any) -> Any:
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _Bad("Input should be true or false")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
            return int(value)  # environment overrides are strings
        raise _Bad("Input should be a valid integer")
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+(\.\d+)?\s*", value):
            return float(value)
        raise _Bad("Input should be a number")
    if hint is str:
        if isinstance(value, str):
            return value
        raise _Bad("Input should be a valid string")
    if hint is date:
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        raise _Bad("Input should be a date (YYYY-MM-DD)")
    raise TypeError(f"no conversion to {hint!r}")  # a schema bug, not a user's
