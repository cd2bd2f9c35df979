"""Pluggable consistency checks, one module each, registered by name.

Built-in checks register themselves with :func:`register`; third-party checks are found
through the entry-point group ``consistency.checks`` (a broken plugin is reported with a
warning and skipped, never crashes an audit).
"""

from __future__ import annotations

import importlib
import warnings
from importlib.metadata import entry_points
from typing import Callable

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
    "checks.critique",
    "checks.directives",
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
    return _REGISTRY[name](**options)
