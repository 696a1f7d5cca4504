"""Secret masking for CI logs: every registered value is replaced by ``***``.

Design
------
``SecretMasker`` holds the set of values to hide (workflow secrets and ``::add-mask::`` values)
and masks a complete string with :meth:`SecretMasker.mask`. Matching is done on the whole text
at once: every occurrence of every value is found, overlapping and adjacent matches are merged
into one range, and each merged range becomes a single ``***`` — so a value that contains
another value, or two secrets written back to back, never leave a fragment visible.

A multi-line value is registered line by line (``\\r\\n``, ``\\n`` and ``\\r`` all split; each
line trimmed of surrounding whitespace), as the runner does, because logs are shown line by
line: each line of a private key prints as ``***``.
The whole value is also registered so that it is masked where it appears in one piece (a step
summary, an output).

Values that are empty, whitespace only or a single character are refused (``add`` returns
``False``). The runner refuses empty and whitespace-only ``add-mask`` values with a warning;
refusing one-character values too is Shipyard's rule: masking every ``a`` or every ``1`` would
make the log unreadable while protecting nothing. The caller prints the warning.

Besides the raw value, a few derived forms that commonly reach logs are masked too: the value
as a JSON string body, URL-escaped and (for values of six characters or more) base64-encoded.
These are Shipyard's choice of the encodings a value most often leaks through; the runner keeps
a longer list.

``StreamMasker`` masks output that arrives in arbitrary chunks (a process writing ``tok`` and
then ``en`` on one line). It holds back the current, unfinished line and masks only whole lines,
so a secret split across writes within a line is still found; :meth:`StreamMasker.flush` masks
and releases whatever is left when the stream ends.

Thread safety
-------------
One ``SecretMasker`` is shared by every job of a run, and jobs run concurrently: one job's
``::add-mask::`` calls :meth:`SecretMasker.add` while another job masks its output. The masker
is copy-on-write: its state is one immutable snapshot (the frozen set of values and, once
built, the pattern compiled from exactly that set). ``add`` builds a new snapshot under a lock
and swaps it in; ``mask`` reads the current snapshot once and compiles its pattern outside the
lock, caching it only if no ``add`` replaced the snapshot meanwhile — so a pattern built from
an older set can never be cached over a newer one (which would leave a just-added secret
unmasked until the next ``add``).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import urllib.parse
from dataclasses import dataclass

__all__ = ["MASK", "MIN_SECRET_LENGTH", "SecretMasker", "StreamMasker"]

MASK = "***"
MIN_SECRET_LENGTH = 2
# Base64 of a very short value is a short, common-looking string; masking it would hide
# innocent text, so only values of at least this length get their base64 form masked.
_MIN_BASE64_SOURCE = 6
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _encodings(value: str) -> set[str]:
    forms = {value, json.dumps(value)[1:-1], urllib.parse.quote(value, safe="")}
    if len(value) >= _MIN_BASE64_SOURCE:
        forms.add(base64.b64encode(value.encode("utf-8")).decode("ascii").rstrip("="))
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


@dataclass(frozen=True)
class _Snapshot:
    """The masker's state at one moment: the values and (once built) their pattern."""

    values: frozenset[str]
    pattern: re.Pattern[str] | None = None


_EMPTY = _Snapshot(frozenset())


class SecretMasker:
    """The values to hide, and the function that hides them (safe to share between threads)."""

    def __init__(self, values: list[str] | None = None) -> None:
        self._lock = threading.Lock()
        self._state = _EMPTY
        for value in values or []:
            self.add(value)

    def add(self, value: str) -> bool:
        """Register ``value`` (and each of its lines); ``False`` if nothing could be masked."""
        parts = [value, *(line.strip() for line in _LINE_BREAK.split(value))]
        forms: set[str] = set()
        for part in parts:
            if len(part.strip()) >= MIN_SECRET_LENGTH:
                forms |= _encodings(part)
        if not forms:
            return False
        with self._lock:
            if not forms <= self._state.values:
                self._state = _Snapshot(self._state.values | forms)
        return True

    @property
    def values(self) -> frozenset[str]:
        return self._state.values

    def mask(self, text: str) -> str:
        """``text`` with every registered value (and overlap of values) replaced by ``***``."""
        state = self._state
        if not state.values or not text:
            return text
        ranges = _merged_ranges(self._compiled(state), text)
        if not ranges:
            return text
        pieces: list[str] = []
        cursor = 0
        for start, end in ranges:
            pieces.append(text[cursor:start])
            pieces.append(MASK)
            cursor = end
        pieces.append(text[cursor:])
        return "".join(pieces)

    def _compiled(self, state: _Snapshot) -> re.Pattern[str]:
        if state.pattern is not None:
            return state.pattern
        longest_first = sorted(state.values, key=lambda v: (-len(v), v))
        alternatives = "|".join(re.escape(v) for v in longest_first)
        pattern = re.compile(f"(?=({alternatives}))", re.DOTALL)
        with self._lock:
            if self._state is state:  # not replaced by an add meanwhile: cache it
                self._state = _Snapshot(state.values, pattern)
        return pattern


def _merged_ranges(pattern: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    # A lookahead match is empty, so the scan visits every position: overlapping
    # occurrences are all found, each the longest value starting there.
    merged: list[tuple[int, int]] = []
    for match in pattern.finditer(text):
        start, end = match.start(), match.end(1)
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


class StreamMasker:
    """Masks a stream written in chunks; only whole lines are released before ``flush``."""

    def __init__(self, masker: SecretMasker) -> None:
        self._masker = masker
        self._pending = ""

    def write(self, chunk: str) -> str:
        """Add ``chunk``; return the masked text of every line it completed (with newlines)."""
        self._pending += chunk
        cut = max(self._pending.rfind("\n"), self._pending.rfind("\r"))
        if cut < 0:
            return ""
        if self._pending[cut] == "\r" and cut == len(self._pending) - 1:
            # A trailing \r may be the first half of \r\n: wait for the next chunk.
            cut = max(self._pending.rfind("\n", 0, cut), self._pending.rfind("\r", 0, cut))
            if cut < 0:
                return ""
        complete, self._pending = self._pending[: cut + 1], self._pending[cut + 1 :]
        return self._masker.mask(complete)

    def flush(self) -> str:
        """The masked remainder (an unfinished last line); the stream is empty afterwards."""
        rest, self._pending = self._pending, ""
        return self._masker.mask(rest)
