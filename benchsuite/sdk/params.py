"""Typed plugin parameters and the `name:key=value,key=value` spec syntax used on the command line."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from benchsuite.errors import ParamError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Param:
    """One typed, validated parameter of a method or backend.

    :param name: the key used on the command line (``sparsity``).
    :param type: ``int``, ``float``, ``bool`` or ``str``.
    :param default: the value used when the key is not given.
    :param help: one line shown by ``benchsuite plugins --verbose`` and in errors.
    :param choices: the allowed values, if the set is closed.
    :param min: inclusive lower bound for numbers.
    :param max: inclusive upper bound for numbers.
    """

    name: str
    type: type
    default: Any
    help: str = ""
    choices: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None

    def accepts(self) -> str:
        """Describe the accepted values, for error messages."""
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices)
        kind = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[self.type]
        if self.min is not None and self.max is not None:
            return f"{kind} from {self.min} to {self.max}"
        if self.min is not None:
            return f"{kind} >= {self.min}"
        if self.max is not None:
            return f"{kind} <= {self.max}"
        return kind

    def parse(self, text: str) -> Any:
        """Turn command-line text into a validated value."""
        text = text.strip()
        try:
            if self.type is bool:
                low = text.lower()
                if low not in _TRUE | _FALSE:
                    raise ValueError(text)
                value: Any = low in _TRUE
            elif self.type is int:
                value = int(text)
            elif self.type is float:
                value = float(text)
            else:
                value = text
        except ValueError:
            raise ParamError(f"parameter '{self.name}' got {text!r}; it accepts {self.accepts()}") from None
        return self.validate(value)

    def validate(self, value: Any) -> Any:
        """Check a Python value (from the API or from `parse`) and return it normalised."""
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, self.type) or (self.type is not bool and isinstance(value, bool)):
            raise ParamError(f"parameter '{self.name}' got {value!r}; it accepts {self.accepts()}")
        if self.type is float and value != value:
            raise ParamError(f"parameter '{self.name}' got NaN; it accepts {self.accepts()}")
        if self.choices is not None and value not in self.choices:
            raise ParamError(f"parameter '{self.name}' got {value!r}; it accepts {self.accepts()}")
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise ParamError(f"parameter '{self.name}' got {value!r}; it accepts {self.accepts()}")
        return value


def resolve_params(owner: str, declared: Sequence[Param], given: Mapping[str, Any]) -> dict[str, Any]:
    """Validate `given` against `declared` and fill in defaults.

    :param owner: the method or backend name, for error messages.
    :return: every declared parameter with its value, in declaration order.
    """
    by_name = {p.name: p for p in declared}
    unknown = [k for k in given if k not in by_name]
    if unknown:
        accepted = ", ".join(by_name) or "no parameters"
        raise ParamError(f"'{owner}' has no parameter '{unknown[0]}'; it accepts: {accepted}")
    out = {}
    for p in declared:
        try:
            out[p.name] = p.validate(given[p.name]) if p.name in given else p.default
        except ParamError as exc:
            raise ParamError(f"'{owner}': {exc}") from None
    return out


@dataclass(frozen=True)
class Spec:
    """A parsed `name:key=value,...` selection; values are still text."""

    name: str
    raw_params: tuple[tuple[str, str], ...] = ()


def parse_spec(text: str) -> Spec:
    """Parse `magnitude-pruning:sparsity=0.5,finetune_steps=200` into a Spec."""
    name, _, rest = text.strip().partition(":")
    name = name.strip()
    if not name:
        raise ParamError(f"empty name in {text!r}; write NAME or NAME:key=value,key=value")
    pairs = []
    seen = set()
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise ParamError(f"{text!r}: {item!r} is not key=value; write {name}:key=value,key=value")
        if key in seen:
            raise ParamError(f"{text!r}: parameter '{key}' is given twice")
        seen.add(key)
        pairs.append((key, value.strip()))
    return Spec(name, tuple(pairs))


def parse_values(owner: str, declared: Sequence[Param], raw: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Parse the text values of a Spec with the declared Params, then resolve defaults."""
    by_name = {p.name: p for p in declared}
    given = {}
    for key, text in raw:
        if key not in by_name:
            accepted = ", ".join(by_name) or "no parameters"
            raise ParamError(f"'{owner}' has no parameter '{key}'; it accepts: {accepted}")
        try:
            given[key] = by_name[key].parse(text)
        except ParamError as exc:
            raise ParamError(f"'{owner}': {exc}") from None
    return resolve_params(owner, declared, given)


def params_json(params: Mapping[str, Any]) -> str:
    """Canonical JSON of a parameter dict, as stored in the `params` column."""
    return json.dumps(dict(params), sort_keys=True, separators=(",", ":"))


def format_spec(name: str, params: Mapping[str, Any]) -> str:
    """The command-line spelling of a configuration (inverse of parse_spec + parse_values)."""
    if not params:
        return name
    return name + ":" + ",".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in params.items())
