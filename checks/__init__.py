"""Pluggable consistency checks, one module each, registered by name.

Built-in checks register themselves with :func:`register`; third-party checks are found
through the entry-point group ``consistency.checks`` (docs/writing-a-check.md). The
registry is strict: every check is held to the :class:`~checks.base.Check` protocol when it
registers, a name registered twice is an error naming both sources, and an entry point's
name must be its check's ``name``. Only a plugin that cannot be imported at all is skipped
with a warning, so that one broken package does not stop every audit.
"""

from __future__ import annotations

import importlib
import inspect
import typing
import warnings
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pydantic import ConfigDict, ValidationError, create_model

from checks.base import Check, CheckResult, Conflict, RunContext
from consistency.errors import UserError

__all__ = [
    "Check", "CheckResult", "Conflict", "RunContext", "register", "get", "available", "options",
    "UnknownCheck", "CheckContractError",
]

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


class UnknownCheck(UserError, KeyError):
    def __str__(self) -> str:
        return f"unknown check {self.args[0]!r}; available: {', '.join(available())}"


class CheckContractError(UserError):
    """A check that breaks the registry's contract (clash, missing attribute, bad signature)."""


@dataclass(frozen=True)
class _Entry:
    factory: type
    source: str  # where it came from, for error messages


def _contract_violation(cls: Any, name: str) -> str | None:
    """What is wrong with ``cls`` as the check ``name``, or None."""
    if not inspect.isclass(cls):
        return f"is {type(cls).__name__} {cls!r}, not a class"
    if getattr(cls, "name", None) != name:
        return f"has name {getattr(cls, 'name', None)!r}, not {name!r}"
    for flag in ("needs_hidden", "local"):
        if not isinstance(getattr(cls, flag, None), bool):
            return f"lacks the boolean class attribute {flag!r}"
    for method, arguments in (("queries", ["suite"]), ("run", ["suite", "answers", "context"])):
        function = getattr(cls, method, None)
        if not callable(function):
            return f"lacks the method {method}({', '.join(arguments)})"
        parameters = [p for p in inspect.signature(function).parameters.values()][1:]  # after self
        if len(parameters) != len(arguments) or any(p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                                                   for p in parameters):
            return f"has {method}{inspect.signature(function)}, expected {method}(self, {', '.join(arguments)})"
    for parameter in _option_parameters(cls):
        if parameter.kind not in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            return f"takes *{parameter.name} in __init__; options must be named keyword parameters"
        if parameter.default is parameter.empty:
            return f"has no default for its option {parameter.name!r} (a check must be constructible by name alone)"
    return None


def _option_parameters(cls: type) -> list[inspect.Parameter]:
    """The constructor's parameters (none for a class without its own ``__init__``)."""
    return list(inspect.signature(cls).parameters.values())


class _Registry:
    def __init__(self) -> None:
        self.entries: dict[str, _Entry] = {}
        self.loaded = False

    def add(self, name: str, factory: Any, source: str) -> None:
        if name in self.entries:
            if self.entries[name].factory is factory:
                return  # a plugin module that also uses @register: the same class, found twice
            raise CheckContractError(f"check name {name!r} is registered twice: by {self.entries[name].source} and by {source}")
        problem = _contract_violation(factory, name)
        if problem:
            raise CheckContractError(f"check {name!r} from {source} {problem}")
        self.entries[name] = _Entry(factory, source)

    def load(self) -> None:
        if self.loaded:
            return
        self.loaded = True
        for module in _BUILTIN_MODULES:
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:
                if exc.name != module:  # a real import error inside an existing module
                    raise
        # in the order of _BUILTIN_MODULES, not the order something happened to import them in
        rank = {module: i for i, module in enumerate(_BUILTIN_MODULES)}
        for name, builtin in sorted(_builtins.entries.items(), key=lambda item: rank.get(item[1].factory.__module__, len(rank))):
            self.add(name, builtin.factory, builtin.source)
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            source = _describe(entry)
            try:
                factory = entry.load()
            except Exception as exc:  # a package that cannot even be imported must not take every audit down
                warnings.warn(f"check plugin {source} failed to load and is skipped: {exc}", stacklevel=3)
                continue
            self.add(entry.name, factory, source)


def _describe(entry: EntryPoint) -> str:
    dist = f" of {entry.dist.name}" if entry.dist is not None else ""
    return f"entry point {entry.name!r} ({entry.value}{dist})"


_builtins = _Registry()  # filled by @register as the built-in modules are imported
_registry = _Registry()  # the built-ins and the installed plugins


def register(name: str):
    """Class decorator for built-in checks: make a check constructible by ``name``.

    The class must declare ``name`` (equal to ``name``), ``needs_hidden`` and ``local``.
    """

    def decorate(cls: type) -> type:
        _builtins.add(name, cls, f"{cls.__module__}.{cls.__qualname__}")
        return cls

    return decorate


def available() -> list[str]:
    _registry.load()
    return list(_registry.entries)


def options(name: str) -> dict[str, Any]:
    """The options a check takes, with their defaults (its constructor's keyword parameters)."""
    _registry.load()
    if name not in _registry.entries:
        raise UnknownCheck(name)
    return {p.name: p.default for p in _option_parameters(_registry.entries[name].factory)}


def get(name: str, **given: Any) -> Check:
    """Construct a registered check by name, with its options."""
    accepted = options(name)
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        raise UserError(
            f"check {name!r} has no option {unknown[0]!r}; its options: {', '.join(accepted) or 'none'}"
        )
    factory = _registry.entries[name].factory
    typed = _typed_options(name, factory, given)
    if not typed:
        return factory()
    try:
        return factory(**typed)
    except (UserError, ValueError) as error:  # the constructor rejects a value (--option critique.explain=-1)
        raise UserError(f"check {name!r}: {error}") from None


def _typed_options(name: str, factory: Any, given: dict[str, Any]) -> dict[str, Any]:
    """``given`` checked against the types the check's constructor declares, so a value of the
    wrong type (``--option probe.fpr=abc``) is one clean error, not a crash inside the check."""
    try:
        hints = typing.get_type_hints(factory.__init__ if isinstance(factory, type) else factory)  # type: ignore[misc]  # the class's own constructor is what we read
    except Exception:  # noqa: BLE001 -- a plugin's annotations that cannot be resolved: passed unchecked
        return given
    fields: dict[str, Any] = {key: (hints[key], ...) for key in given if key in hints}
    model = create_model(f"{name}_options", __config__=ConfigDict(arbitrary_types_allowed=True), **fields)
    try:
        checked = model(**{key: given[key] for key in fields})
    except ValidationError as error:
        first = error.errors()[0]
        raise UserError(f"option {name}.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    return {**given, **{key: getattr(checked, key) for key in fields}}
