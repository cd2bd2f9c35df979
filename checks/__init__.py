"""Pluggable consistency checks, one module each, registered by name.

Built-in checks register themselves with :func:`register`; third-party checks are found
through the entry-point group ``consistency.checks`` (a broken plugin is reported with a
warning and skipped, never crashes an audit).
"""

from __future__ import annotations

import importlib
import inspect
import typing
import warnings
from importlib.metadata import entry_points
from typing import Any, Callable

from pydantic import ConfigDict, ValidationError, create_model

from checks.base import Check, CheckResult, Conflict, RunContext
from consistency.errors import UserError

__all__ = ["Check", "CheckResult", "Conflict", "RunContext", "register", "get", "available", "UnknownCheck"]

ENTRY_POINT_GROUP = "consistency.checks"
_BUILTIN_MODULES = (
    "checks.cross_examination",
    "checks.logic",
    "checks.decomposition",
    "checks.probe",
    "checks.w2s_copies",
)
_REGISTRY: dict[str, Callable[..., Check]] = {}
_loaded = False


class UnknownCheck(UserError, KeyError):
    def __str__(self) -> str:
        return f"unknown check {self.args[0]!r}; available: {', '.join(available())}"


def register(name: str) -> Callable[[type], type]:
    """Class decorator: make a check constructible by name."""

    def decorate(cls: type) -> type:
        _REGISTRY[name] = cls
        cls.name = name
        return cls

    return decorate


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _BUILTIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # a real import error inside an existing module
                raise
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            factory = entry.load()
        except Exception as exc:  # a third-party plugin must not take the audit down
            warnings.warn(f"check plugin {entry.name!r} ({entry.value}) failed to load: {exc}", stacklevel=2)
            continue
        _REGISTRY.setdefault(entry.name, factory)


def available() -> list[str]:
    _load()
    return list(_REGISTRY)


def get(name: str, **options) -> Check:
    """Construct a registered check by name, with its options."""
    _load()
    if name not in _REGISTRY:
        raise UnknownCheck(name)
    factory = _REGISTRY[name]
    return factory(**_validated_options(name, factory, options))


def _validated_options(name: str, factory: Callable[..., Check], options: dict[str, Any]) -> dict[str, Any]:
    """``options`` checked against the check's constructor: unknown names and values of the
    wrong type (``--option logic.nonsense=1``, ``probe.fpr=abc``) are one clean error."""
    parameters = inspect.signature(factory).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        unknown = sorted(set(options) - set(parameters))
        if unknown:
            known = ", ".join(parameters) or "none"
            raise UserError(f"check {name!r} has no option {unknown[0]!r} (its options: {known})")
    try:
        hints = typing.get_type_hints(factory.__init__ if isinstance(factory, type) else factory)
    except Exception:  # a plugin's annotations that cannot be resolved: pass its options unchecked
        return options
    fields: dict[str, Any] = {key: (hints[key], ...) for key in options if key in hints}
    model = create_model(f"{name}_options", __config__=ConfigDict(arbitrary_types_allowed=True), **fields)
    try:
        checked = model(**{key: options[key] for key in fields})
    except ValidationError as error:
        first = error.errors()[0]
        raise UserError(f"option {name}.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    return {**options, **{key: getattr(checked, key) for key in fields}}
