"""The kinds a store serves: names, scope, status subresource, defaulting and validation.

A :class:`Scheme` is built explicitly (``builtin_scheme()`` in :mod:`shipyard.store.kinds`
for the Kubernetes kinds; products add their own kinds, such as Karpenter's NodePool, when
the platform wires them). Nothing registers itself at import time.

Each :class:`KindInfo` carries two plain functions:

- ``default(obj)`` fills the defaults the API server would (in place), before validation;
- ``validate(obj, old)`` returns every problem as a :class:`FieldError` with its field path
  (``spec.template.spec.containers[0].resources.requests.cpu``); ``old`` is the stored object
  on update (``None`` on create), for rules about immutable fields.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from shipyard.core.errors import FieldError, NotFoundError

__all__ = ["Converter", "KindInfo", "Scheme"]

Defaulter = Callable[[dict[str, Any]], None]
Validator = Callable[[dict[str, Any], "dict[str, Any] | None"], list[FieldError]]
Converter = Callable[[dict[str, Any]], tuple[dict[str, Any], list[str]]]


def _no_defaults(obj: dict[str, Any]) -> None:
    return None


def _no_validation(obj: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    return []


@dataclass(frozen=True)
class KindInfo:
    """One served kind, as ``kubectl api-resources`` would list it."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    has_status: bool = True
    default: Defaulter = field(default=_no_defaults, compare=False)
    validate: Validator = field(default=_no_validation, compare=False)
    # Column printer for `get -o wide` and tables: (header, function of object) pairs.
    columns: tuple[tuple[str, Callable[[dict[str, Any]], str]], ...] = field(
        default=(), compare=False
    )
    # An older served version: objects written in it are converted to the storage version
    # first (returning the object and one warning per converted or dropped field), as a
    # conversion webhook would; reads are always of the storage version.
    convert: Converter | None = field(default=None, compare=False)

    @functools.cached_property  # read on every request (the key of each object)
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @functools.cached_property
    def resource(self) -> str:
        """``deployments.apps``-style name; just the plural for the core group."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


class Scheme:
    """A set of kinds, looked up by apiVersion+kind or by any name kubectl accepts."""

    def __init__(self, kinds: list[KindInfo] | None = None) -> None:
        self._by_gvk: dict[tuple[str, str], KindInfo] = {}
        self._names: dict[str, KindInfo] = {}
        for info in kinds or []:
            self.add(info)

    def add(self, info: KindInfo) -> None:
        self._by_gvk[(info.api_version, info.kind)] = info
        for name in (info.kind, info.singular, info.plural, info.resource, *info.short_names):
            self._names.setdefault(name.lower(), info)
        self._names.setdefault(f"{info.singular}.{info.group}".lower(), info)

    def get(self, api_version: str, kind: str) -> KindInfo:
        """The kind, or NotFoundError naming what is served instead."""
        info = self._by_gvk.get((api_version, kind))
        if info is None:
            raise NotFoundError(
                f'no kind "{kind}" is registered for version "{api_version}"{self._hint(kind)}'
            )
        return info

    def find(self, api_version: str, kind: str) -> KindInfo | None:
        return self._by_gvk.get((api_version, kind))

    def resolve(self, name: str) -> KindInfo:
        """A kind from a name as typed on a command line: ``po``, ``pods``, ``deployments.apps``."""
        info = self._names.get(name.lower())
        if info is None:
            raise NotFoundError(f'the server doesn\'t have a resource type "{name}"')
        return info

    def __iter__(self) -> Iterator[KindInfo]:
        return iter(sorted(self._by_gvk.values(), key=lambda k: (k.group, k.kind)))

    def __contains__(self, gvk: object) -> bool:
        return gvk in self._by_gvk

    def _hint(self, kind: str) -> str:
        versions = sorted(av for (av, k) in self._by_gvk if k == kind)
        return f" (served versions: {', '.join(versions)})" if versions else ""
