"""``hashFiles(...)``: one SHA-256 for the files that match glob patterns in the workspace.

Shipyard computes the digest the way GitHub's runner documents and implements it, so a cache
key built with ``hashFiles('**/package-lock.json')`` is the same on Shipyard and on GitHub:

1. Every argument may hold several patterns, one per line. Lines are trimmed; empty lines
   and lines starting with ``#`` are ignored. A leading ``!`` (an odd number of them)
   excludes; patterns apply in order, so a later pattern can include again what an earlier
   ``!`` excluded.
2. A relative pattern is rooted at the workspace (``GITHUB_WORKSPACE``); a leading ``./`` is
   the workspace itself, a leading ``~/`` the home directory, an absolute pattern stays as it
   is. ``.`` is allowed only as the first segment and ``..`` not at all (an error).
3. Globs: ``*`` (any characters within a segment, dot files included), ``?`` (one
   character), ``[...]`` classes (``[!...]``/``[^...]`` negated), ``**`` as a whole segment
   for any number of directories (elsewhere it is ``*``), ``\\`` escapes the next character.
   No brace or extglob expansion. Matching is case-sensitive.
4. A pattern that matches a directory also matches everything below it (``for-hashing-3``
   hashes every file in that tree). A pattern ending in ``/`` matches directories only.
5. Only regular files count; files whose path is not below the workspace are ignored.
   Symbolic links are not followed into directories unless the first argument is
   ``--follow-symbolic-links``; a link to a file is hashed through to its target.
6. Files are taken in walk order: depth first, each directory's entries sorted by name
   (by code point), which is the order of the paths' segment tuples. The result is the
   hex SHA-256 of the concatenated raw SHA-256 digests of the files, or ``""`` when no
   file matched.

Deliberate difference: GitHub runs the hash in a Node subprocess with a time limit; here it
runs in process, and a failure (an unreadable or dangling file) raises
:class:`HashFilesError` instead of failing the step through the subprocess exit code.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from shipyard.core.errors import PermanentError

__all__ = ["FOLLOW_SYMBOLIC_LINKS", "HashFilesError", "hash_files", "hash_files_hook"]

FOLLOW_SYMBOLIC_LINKS = "--follow-symbolic-links"
_CHUNK = 1 << 16


class HashFilesError(PermanentError):
    """A ``hashFiles`` call that cannot be answered: a bad pattern or option, or an unreadable
    file. Retrying does not help; the workflow or the workspace has to change."""


class _Globstar:
    """The ``**`` segment: any number of directories."""


_GLOBSTAR = _Globstar()
_Segment = re.Pattern[str] | _Globstar


@dataclass(frozen=True)
class _Pattern:
    negate: bool
    segments: tuple[_Segment, ...]
    directories_only: bool

    def matches(self, parts: Sequence[str]) -> bool:
        return _match(self.segments, tuple(parts))


@dataclass(frozen=True)
class _Parsed:
    text: str
    negate: bool
    root: tuple[str, ...]  # literal absolute path parts the pattern starts from
    segments: tuple[_Segment, ...]
    directories_only: bool


def hash_files(workspace: Path, patterns: Sequence[str]) -> str:
    """GitHub's ``hashFiles(patterns...)`` over ``workspace``: hex SHA-256, ``""`` if none."""
    follow, texts = _options(patterns)
    root = Path(os.path.realpath(workspace))
    parsed = [_parse(text, root) for text in _lines(texts)]
    matchers = _matchers(parsed)
    result = hashlib.sha256()
    found = False
    for path in _candidates(root, parsed, follow):
        if _selected(matchers, path.parts) and _is_file(path, texts):
            result.update(_digest(path, texts))
            found = True
    return result.hexdigest() if found else ""


def hash_files_hook(workspace: Path) -> Callable[[Sequence[str]], str]:
    """The ``EvaluationOptions.hash_files`` hook for ``workspace``."""

    def hook(patterns: Sequence[str]) -> str:
        return hash_files(workspace, patterns)

    return hook


def _options(arguments: Sequence[str]) -> tuple[bool, list[str]]:
    if arguments and arguments[0].startswith("--"):
        if arguments[0].lower() != FOLLOW_SYMBOLIC_LINKS:
            raise HashFilesError(
                f"hashFiles: invalid glob option {arguments[0]!r}; the only option is "
                f"{FOLLOW_SYMBOLIC_LINKS!r}, given as the first argument"
            )
        return True, list(arguments[1:])
    return False, list(arguments)


def _lines(arguments: Sequence[str]) -> Iterator[str]:
    for argument in arguments:
        for line in argument.split("\n"):
            text = line.strip()
            if text and not text.startswith("#"):
                yield text


def _parse(text: str, workspace: Path) -> _Parsed:
    negate = False
    pattern = text
    while pattern.startswith("!"):
        negate = not negate
        pattern = pattern[1:].strip()
    if not pattern:
        raise HashFilesError(f"hashFiles: pattern {text!r} is empty after its '!'")
    directories_only = pattern.endswith("/")
    raw = [part for part in pattern.split("/") if part]
    _check_relative_segments(text, raw)
    base: tuple[str, ...]
    if pattern.startswith("/"):
        base = ("/",)
    elif raw[0] == ".":
        base, raw = workspace.parts, raw[1:]
    elif raw[0] == "~":
        base, raw = Path.home().parts, raw[1:]
    else:
        base = workspace.parts
    literal = list(base)
    for part in raw:
        plain = _literal(part)
        if plain is None:
            break
        literal.append(plain)
    compiled = tuple(_literal_segment(p) for p in base) + tuple(_compile(part) for part in raw)
    return _Parsed(text, negate, tuple(literal), compiled, directories_only)


def _check_relative_segments(text: str, raw: Sequence[str]) -> None:
    for index, part in enumerate(raw):
        plain = _literal(part)
        if plain == ".." or (plain == "." and index > 0):
            raise HashFilesError(
                f"hashFiles: invalid pattern {text!r}: '.' is allowed only as the first "
                "segment and '..' not at all; write the path from the workspace instead"
            )


def _matchers(parsed: Sequence[_Parsed]) -> list[_Pattern]:
    """Each pattern, followed by its implicit ``pattern/**`` for the descendants."""
    matchers: list[_Pattern] = []
    for item in parsed:
        matchers.append(_Pattern(item.negate, item.segments, item.directories_only))
        descendants = (*item.segments, re.compile(r".+", re.DOTALL), _GLOBSTAR)
        matchers.append(_Pattern(item.negate, descendants, False))
    return matchers


def _selected(matchers: Sequence[_Pattern], parts: Sequence[str]) -> bool:
    """Whether a file is matched: patterns in order, a ``!`` one clears what it matches."""
    selected = False
    for matcher in matchers:
        if matcher.directories_only or selected == (not matcher.negate):
            continue
        if matcher.matches(parts):
            selected = not matcher.negate
    return selected


def _match(segments: tuple[_Segment, ...], parts: tuple[str, ...]) -> bool:
    if not segments:
        return not parts
    head = segments[0]
    if isinstance(head, _Globstar):
        rest = segments[1:]
        return any(_match(rest, parts[skip:]) for skip in range(len(parts) + 1))
    return bool(parts) and head.fullmatch(parts[0]) is not None and _match(segments[1:], parts[1:])


def _literal(part: str) -> str | None:
    """The segment's text if it holds no glob (escapes removed), else None."""
    out: list[str] = []
    index = 0
    while index < len(part):
        char = part[index]
        if char == "\\" and index + 1 < len(part):
            out.append(part[index + 1])
            index += 2
            continue
        if char in "*?" or (char == "[" and _class_end(part, index) > 0):
            return None
        out.append(char)
        index += 1
    return "".join(out)


def _literal_segment(part: str) -> re.Pattern[str]:
    return re.compile(re.escape(part), re.DOTALL)


def _compile(part: str) -> _Segment:
    if part == "**":
        return _GLOBSTAR
    out: list[str] = []
    index = 0
    while index < len(part):
        char = part[index]
        if char == "\\" and index + 1 < len(part):
            out.append(re.escape(part[index + 1]))
            index += 2
        elif char == "*":
            out.append(".*")
            index += 1
        elif char == "?":
            out.append(".")
            index += 1
        elif char == "[" and (close := _class_end(part, index)) > 0:
            out.append(_class_regex(part[index + 1 : close]))
            index = close + 1
        else:
            out.append(re.escape(char))
            index += 1
    return re.compile("".join(out), re.DOTALL)


def _class_end(part: str, start: int) -> int:
    """Index of the ``]`` closing the class opened at ``start``, or -1 if it is not closed."""
    index = start + 1
    if index < len(part) and part[index] in "!^":
        index += 1
    if index < len(part) and part[index] == "]":
        index += 1
    while index < len(part):
        if part[index] == "\\":
            index += 2
            continue
        if part[index] == "]":
            return index
        index += 1
    return -1


def _class_regex(body: str) -> str:
    negate = body[:1] in ("!", "^")
    if negate:
        body = body[1:]
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\" and index + 1 < len(body):
            char = body[index + 1]
            index += 1
        out.append("-" if char == "-" and 0 < index < len(body) - 1 else re.escape(char))
        index += 1
    return "[" + ("^" if negate else "") + "".join(out) + "]"


def _candidates(workspace: Path, parsed: Sequence[_Parsed], follow: bool) -> Iterator[Path]:
    """Every path below the included patterns' literal roots, in walk order, each once."""
    roots: set[tuple[str, ...]] = set()
    for item in parsed:
        if item.negate:
            continue
        root = item.root
        if workspace.parts[: len(root)] == root:
            root = workspace.parts  # an ancestor: only the workspace can contribute
        elif root[: len(workspace.parts)] != workspace.parts:
            continue  # outside the workspace: nothing there is hashed
        roots.add(root)
    kept = sorted(r for r in roots if not any(r[: len(o)] == o and r != o for o in roots))
    for root in kept:
        yield from _walk(Path(*root), follow, set())


def _walk(path: Path, follow: bool, ancestors: set[tuple[int, int]]) -> Iterator[Path]:
    try:
        info = path.stat() if follow else path.lstat()
    except FileNotFoundError:
        return  # a root that does not exist, or (when following) a dangling link
    if not stat.S_ISDIR(info.st_mode):
        yield path
        return
    identity = (info.st_dev, info.st_ino)
    if identity in ancestors:
        return  # a symbolic link cycle
    for name in sorted(os.listdir(path)):
        yield from _walk(path / name, follow, ancestors | {identity})


def _is_file(path: Path, patterns: Sequence[str]) -> bool:
    try:
        return not path.is_dir() and path.stat() is not None
    except OSError as error:
        raise _failure(path, patterns, error) from error


def _digest(path: Path, patterns: Sequence[str]) -> bytes:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    except OSError as error:
        raise _failure(path, patterns, error) from error
    return digest.digest()


def _failure(path: Path, patterns: Sequence[str], error: OSError) -> HashFilesError:
    quoted = ", ".join(patterns)
    return HashFilesError(
        f"hashFiles('{quoted}') failed: cannot read {path}: {error.strerror or error}"
    )
