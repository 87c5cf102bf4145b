"""Hyperparameter schemas derived from a model constructor's typed signature."""

from __future__ import annotations

import difflib
import inspect
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

from plexus.platform.errors import ConfigError

__all__ = ["HParam", "HParamSchema", "did_you_mean", "schema_from_callable"]

_SCALARS = (bool, int, float, str)


def did_you_mean(name: str, candidates: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _doc_args(doc: str | None) -> dict[str, str]:
    """Parse a Google-style ``Args:`` section into ``{name: help}``."""
    if not doc:
        return {}
    out: dict[str, str] = {}
    lines = inspect.cleandoc(doc).splitlines()
    in_args, current, indent = False, None, None
    for line in lines:
        if re.match(r"^(Args|Arguments|Parameters):\s*$", line.strip()) and not line.startswith(" " * 8):
            in_args, current, indent = True, None, None
            continue
        if not in_args:
            continue
        if line.strip() and not line.startswith(" "):
            break
        m = re.match(r"^(\s+)(\w+)\s*(\([^)]*\))?:\s*(.*)$", line)
        if m and (indent is None or len(m.group(1)) == indent):
            indent = len(m.group(1))
            current = m.group(2)
            out[current] = m.group(4).strip()
        elif current and line.strip():
            out[current] = (out[current] + " " + line.strip()).strip()
    return out


def _type_name(tp: Any) -> str:
    if tp is inspect.Parameter.empty:
        return "any"
    origin = get_origin(tp)
    if origin is Literal:
        return "|".join(repr(a) for a in get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in get_args(tp))
    if origin in (list, tuple):
        args = get_args(tp)
        return f"{origin.__name__}[{', '.join(_type_name(a) for a in args if a is not Ellipsis)}]"
    if origin is dict:
        k, v = (get_args(tp) + (Any, Any))[:2]
        return f"dict[{_type_name(k)}, {_type_name(v)}]"
    if tp is type(None):
        return "None"
    return getattr(tp, "__name__", str(tp))


@dataclass(frozen=True)
class HParam:
    """One hyperparameter: a keyword argument of the model's constructor."""

    name: str
    annotation: Any
    default: Any
    help: str = ""

    @property
    def type_name(self) -> str:
        return _type_name(self.annotation)

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty

    def to_dict(self) -> dict[str, Any]:
        d = None if self.required else self.default
        if isinstance(d, tuple):
            d = list(d)
        return {"name": self.name, "type": self.type_name, "default": d, "required": self.required, "help": self.help}

    def coerce(self, value: Any) -> Any:
        """Check ``value`` against the annotation; strings from the command line are parsed."""
        try:
            return _coerce(value, self.annotation)
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"hyperparameter '{self.name}' expects {self.type_name}, got {value!r} ({exc})"
            ) from None


def _coerce(value: Any, tp: Any) -> Any:
    if tp is inspect.Parameter.empty or tp is Any:
        return value
    origin = get_origin(tp)
    if origin is Literal:
        choices = get_args(tp)
        for c in choices:
            if value == c or (isinstance(value, str) and str(c) == value):
                return c
        raise ValueError(f"not one of {list(choices)}")
    if origin in (typing.Union, types.UnionType):
        args = get_args(tp)
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a)
            except (TypeError, ValueError) as e:
                errors.append(str(e))
        raise ValueError("; ".join(errors))
    if origin in (list, tuple):
        if isinstance(value, str):
            value = [v for v in value.strip("[]() ").split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise TypeError("expected a list")
        args = [a for a in get_args(tp) if a is not Ellipsis]
        item_tp = args[0] if args else Any
        items = [_coerce(v.strip() if isinstance(v, str) else v, item_tp) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict:  # a mapping, or "key: value, key: value" from the command line
        if isinstance(value, str):
            pairs = [kv.split(":", 1) for kv in value.strip("{} ").split(",") if kv.strip()]
            if any(len(kv) != 2 for kv in pairs):
                raise ValueError("expected key: value pairs")
            value = {k.strip(): v.strip() for k, v in pairs}
        if not isinstance(value, dict):
            raise TypeError("expected a mapping")
        k_tp, v_tp = (get_args(tp) + (Any, Any))[:2]
        return {_coerce(k, k_tp): _coerce(v, v_tp) for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return value.lower() in ("true", "1", "yes", "on")
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ValueError("not a boolean")
    if tp is int:
        if isinstance(value, bool):
            raise TypeError("not an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            return int(value.strip())
        raise TypeError("not an integer")
    if tp is float:
        if isinstance(value, bool):
            raise TypeError("not a number")
        if isinstance(value, (int, float)):
            out = float(value)
        elif isinstance(value, str):
            out = float(value.strip())
        else:
            raise TypeError("not a number")
        if out != out or out in (float("inf"), float("-inf")):
            raise ValueError("must be finite")
        return out
    if tp is str:
        if isinstance(value, str):
            return value
        raise TypeError("not a string")
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise TypeError(f"unsupported value for {_type_name(tp)}")


@dataclass
class HParamSchema:
    """The validated hyperparameter schema of a model class."""

    params: dict[str, HParam]

    def names(self) -> list[str]:
        return list(self.params)

    def defaults(self) -> dict[str, Any]:
        return {n: p.default for n, p in self.params.items() if not p.required}

    def validate(self, values: dict[str, Any], *, owner: str = "model") -> dict[str, Any]:
        """Return ``values`` coerced to their declared types; unknown names are errors."""
        out: dict[str, Any] = {}
        for name, value in values.items():
            if name not in self.params:
                raise ConfigError(
                    f"unknown hyperparameter '{name}' for {owner}{did_you_mean(name, self.names())}; "
                    f"known: {', '.join(self.names())}"
                )
            out[name] = self.params[name].coerce(value)
        missing = [n for n, p in self.params.items() if p.required and n not in out]
        if missing:
            raise ConfigError(f"{owner} needs hyperparameter(s): {', '.join(missing)}")
        return out

    def to_list(self) -> list[dict[str, Any]]:
        return [p.to_dict() for p in self.params.values()]


def schema_from_callable(fn: Any, *, skip: tuple[str, ...] = ("self", "spec")) -> HParamSchema:
    """Derive the schema from ``fn``'s keyword parameters (``spec`` and ``self`` excluded)."""
    target = fn.__init__ if inspect.isclass(fn) else fn
    sig = inspect.signature(target)
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # noqa: BLE001 - unresolved forward refs fall back to raw annotations
        hints = {}
    docs = _doc_args(fn.__doc__) if inspect.isclass(fn) else {}
    docs.update(_doc_args(target.__doc__))
    params: dict[str, HParam] = {}
    for p in sig.parameters.values():
        if p.name in skip or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        ann = hints.get(p.name, p.annotation)
        params[p.name] = HParam(p.name, ann, p.default, docs.get(p.name, ""))
    return HParamSchema(params)
