"""Shipyard's error vocabulary: the type of an error says what happens next.

::

    ShipyardError                 anything Shipyard raises on purpose
    ├── NotFoundError             the object does not exist (HTTP 404, reason NotFound)
    ├── AlreadyExistsError        create of an existing name (409, AlreadyExists)
    ├── ConflictError             stale resourceVersion: re-read and retry (409, Conflict)
    ├── InvalidError              the input is wrong; ``causes`` name field paths (422, Invalid)
    ├── BadRequestError           malformed request, bad patch, bad selector (400, BadRequest)
    ├── GoneError                 watch from a resourceVersion whose history is gone (410, Expired)
    ├── TooManyRequestsError      try again after ``retry_after`` seconds (429, TooManyRequests)
    ├── TemporaryError            retry after ``delay`` seconds
    └── PermanentError            do not retry; a person has to act

Controllers decide from the type alone: Conflict requeues at once, Temporary and
TooManyRequests requeue after their delay, Permanent and Invalid stop and report. Each error
carries the Kubernetes ``reason`` and HTTP ``code`` so the API facade can return a
``Status`` object that kubectl understands.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AlreadyExistsError",
    "BadRequestError",
    "ConflictError",
    "FieldError",
    "GoneError",
    "InvalidError",
    "NotFoundError",
    "PermanentError",
    "ShipyardError",
    "TemporaryError",
    "TooManyRequestsError",
]


class ShipyardError(Exception):
    """Base of every error Shipyard raises on purpose."""

    reason = "InternalError"
    code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFoundError(ShipyardError):
    reason = "NotFound"
    code = 404


class AlreadyExistsError(ShipyardError):
    reason = "AlreadyExists"
    code = 409


class ConflictError(ShipyardError):
    """The object changed since it was read; re-read it and try again."""

    reason = "Conflict"
    code = 409


class BadRequestError(ShipyardError):
    reason = "BadRequest"
    code = 400


class GoneError(ShipyardError):
    """A watch asked for history that is no longer kept; list again and watch from there."""

    reason = "Expired"
    code = 410


@dataclass(frozen=True)
class FieldError:
    """One thing wrong with an input, at a field path like ``spec.containers[0].image``."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InvalidError(ShipyardError):
    """The input is wrong. ``causes`` lists every problem found, each with its field path."""

    reason = "Invalid"
    code = 422

    def __init__(self, subject: str, causes: list[FieldError]) -> None:
        self.subject = subject
        self.causes = list(causes)
        detail = "; ".join(str(c) for c in self.causes)
        super().__init__(f"{subject} is invalid: {detail}" if detail else f"{subject} is invalid")


class TooManyRequestsError(ShipyardError):
    """Refused for now (an eviction a disruption budget forbids, a rate limit)."""

    reason = "TooManyRequests"
    code = 429

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TemporaryError(ShipyardError):
    """Something that should work later; retry after ``delay`` seconds."""

    reason = "ServiceUnavailable"
    code = 503

    def __init__(self, message: str, delay: float = 1.0) -> None:
        super().__init__(message)
        self.delay = delay


class PermanentError(ShipyardError):
    """Retrying will not help; a person has to change something."""
