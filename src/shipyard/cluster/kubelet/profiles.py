"""Image profiles: how a simulated container of an image behaves.

An :class:`ImageProfile` is looked up by image reference (:func:`profile_for`) and can be
overridden per pod or per container with ``sim.shipyard.dev/`` annotations
(:func:`profile_overrides`); the fields and their annotations are tabled in
:mod:`shipyard.cluster.kubelet.simulated`, the runtime that plays them.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ANNOTATION_PREFIX",
    "ImageProfile",
    "image_repository",
    "normalized_repository",
    "profile_for",
    "profile_overrides",
]

log = logging.getLogger(__name__)

ANNOTATION_PREFIX = "sim.shipyard.dev/"
_NONE_WORDS = frozenset({"", "none", "never", "null"})


@dataclass(frozen=True)
class ImageProfile:
    """How a simulated container of an image behaves (see the module docstring)."""

    pull_seconds: float = 2.0
    startup_seconds: float = 1.0
    ready_after_seconds: float = 0.0
    ready: bool = True
    crash_after_seconds: float | None = None
    exit_code: int = 1
    hang_after_seconds: float | None = None
    prestop_seconds: float = 0.0
    shutdown_seconds: float = 0.0
    cpu_millicores_idle: float = 5.0
    cpu_millicores_per_rps: float = 1.0
    capacity_rps: float = 100.0
    image_size_bytes: int = 50_000_000
    pullable: bool = True

    def with_overrides(self, values: Mapping[str, str]) -> ImageProfile:
        """A copy with fields set from annotation strings; unparsable values are skipped."""
        changes: dict[str, Any] = {}
        for name, text in values.items():
            try:
                changes[name] = _parse_field(name, text)
            except ValueError as e:
                log.warning("ignoring %s%s=%r: %s", ANNOTATION_PREFIX, name, text, e)
        return dataclasses.replace(self, **changes) if changes else self


_FIELDS = {f.name: f for f in dataclasses.fields(ImageProfile)}
_OPTIONAL = frozenset({"crash_after_seconds", "hang_after_seconds"})
_BOOLS = frozenset({"ready", "pullable"})
_INTS = frozenset({"exit_code", "image_size_bytes"})


def _parse_field(name: str, text: str) -> Any:
    value = text.strip().lower()
    if name in _OPTIONAL and value in _NONE_WORDS:
        return None
    if name in _BOOLS:
        if value not in ("true", "false"):
            raise ValueError("expected true or false")
        return value == "true"
    if name in _INTS:
        return int(value)
    number = float(value)
    if number < 0:
        raise ValueError("must not be negative")
    return number


def profile_overrides(annotations: Mapping[str, str], container: str) -> dict[str, str]:
    """The ``sim.shipyard.dev/`` annotations that apply to one container, by field name."""
    general: dict[str, str] = {}
    specific: dict[str, str] = {}
    for key, value in annotations.items():
        if not key.startswith(ANNOTATION_PREFIX):
            continue
        name = key[len(ANNOTATION_PREFIX) :]
        target, dot, field_name = name.rpartition(".")
        field_name = field_name.replace("-", "_")
        if field_name not in _FIELDS:
            continue
        if not dot:
            general[field_name] = value
        elif target == container:
            specific[field_name] = value
    return {**general, **specific}


def image_repository(image: str) -> str:
    """The reference without tag or digest: ``example/web:2`` -> ``example/web``."""
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def normalized_repository(image: str) -> str:
    """The fully qualified repository: ``alpine`` -> ``docker.io/library/alpine``."""
    repo = image_repository(image)
    first, slash, _ = repo.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return repo
    if not slash:
        return f"docker.io/library/{repo}"
    return f"docker.io/{repo}"


def profile_for(profiles: Mapping[str, ImageProfile], image: str) -> ImageProfile:
    """Exact reference, then repository without tag, then ``*``, then the default."""
    for key in (image, image_repository(image), "*"):
        found = profiles.get(key)
        if found is not None:
            return found
    return ImageProfile()
