"""Facts about a local Git checkout, read through the ``git`` binary.

Design
------
``Repository(path)`` answers the questions a CI run asks of the checkout it runs for: the
top-level directory, the commit ``HEAD`` points at, the branch ref, the ``owner/repo`` name,
who wrote a commit, and which files changed between two commits. Each answer is one
``git`` subprocess (``git -C <root> …``); nothing here talks to a network, reads the index
or writes to the repository. Paths are read NUL-separated (``-z``), so names with spaces or
non-ASCII characters come back unchanged.

Changed files follow what GitHub compares for path filters:

- ``changed_files(before, after)`` is ``git diff --name-only before after`` with renames
  split into the deleted and the added path (``--no-renames``), as GitHub lists both.
- ``before`` of forty zeros means a new branch: the files of the ``after`` commit.
- No ``before`` and no ``after`` (no event payload): the last commit's files against its
  parent; a root commit lists all its files.
- A ``before`` the checkout does not have (e.g. a payload from another clone) gives
  ``None`` — unknown — which the trigger filters treat as "path filters pass", GitHub's
  documented behaviour when it cannot compute a diff.

The ``owner/repo`` name comes from the ``origin`` remote when its URL is a hosted one
(``https://host/owner/repo(.git)``, ``ssh://git@host/owner/repo``, ``git@host:owner/repo``);
a checkout without such a remote is named ``local/<directory>``.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from shipyard.core.errors import BadRequestError, NotFoundError

__all__ = [
    "ZERO_SHA",
    "Commit",
    "FileChanges",
    "GitError",
    "Person",
    "Repository",
    "repository_name_from_url",
]

ZERO_SHA = "0" * 40
_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:(?P<path>[^/].*)$")
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://[^/]+/(?P<path>.+)$")
_ENV = {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_OPTIONAL_LOCKS": "0"}


class GitError(BadRequestError):
    """A ``git`` command failed; the message names the command and what git said."""


@dataclass(frozen=True)
class Person:
    """A commit author or committer."""

    name: str
    email: str
    date: str  # ISO 8601 with the commit's offset, as git records it


@dataclass(frozen=True)
class FileChanges:
    """The files a commit added, removed and modified (against its first parent)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    modified: tuple[str, ...] = ()


@dataclass(frozen=True)
class Commit:
    """One commit as a push payload describes it."""

    sha: str
    tree: str
    parents: tuple[str, ...]
    message: str
    author: Person
    committer: Person
    changes: FileChanges


def repository_name_from_url(url: str) -> str | None:
    """``owner/repo`` from a hosted remote URL, or None for a local path or an odd URL."""
    url = url.strip()
    match = _URL.match(url) or _SCP_LIKE.match(url)
    if match is None or url.startswith("file://"):
        return None
    parts = [p for p in match.group("path").removesuffix("/").split("/") if p]
    if len(parts) < 2:
        return None
    owner, name = parts[-2], parts[-1].removesuffix(".git")
    return f"{owner}/{name}" if owner and name else None


def _git(cwd: Path, args: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **_ENV}
    try:
        done = subprocess.run(
            ["git", "-C", str(cwd), *args],
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="surrogateescape",
            env=env,
            check=False,
        )
    except FileNotFoundError as e:
        raise GitError(
            "the git command is not installed (it is needed to read the checkout)"
        ) from e
    if check and done.returncode != 0:
        said = done.stderr.strip().splitlines()
        raise GitError(
            f"git {' '.join(args)} failed in {cwd}: {said[-1] if said else done.returncode}"
        )
    return done


def _nul_list(text: str) -> tuple[str, ...]:
    return tuple(sorted({p for p in text.split("\0") if p}))


class Repository:
    """A Git checkout at ``path`` (any directory inside it).

    Raises NotFoundError when ``path`` is not inside a Git working tree.
    """

    def __init__(self, path: str | Path) -> None:
        start = Path(path).resolve()
        if not start.is_dir():
            raise NotFoundError(f"{path} is not a directory")
        done = _git(start, ["rev-parse", "--show-toplevel"], check=False)
        if done.returncode != 0:
            raise NotFoundError(
                f"{path} is not inside a git repository — run the command in a checkout "
                "(or `git init` and commit first)"
            )
        self.root = Path(done.stdout.strip())

    def git(self, *args: str) -> str:
        """The standard output of ``git args…`` run at the root (raises GitError on failure)."""
        return _git(self.root, args).stdout

    def _try(self, *args: str) -> str | None:
        done = _git(self.root, args, check=False)
        return done.stdout.strip() if done.returncode == 0 else None

    def resolve(self, revision: str) -> str | None:
        """The full sha of ``revision`` (a sha, branch, tag, ``HEAD~1``), or None if unknown."""
        return self._try("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")

    def head_sha(self) -> str:
        """The commit HEAD points at; GitError when the repository has no commit yet."""
        sha = self.resolve("HEAD")
        if sha is None:
            raise GitError(f"the repository at {self.root} has no commits yet — commit first")
        return sha

    def current_ref(self) -> str | None:
        """``refs/heads/<branch>`` of the checked-out branch, or a tag's ref when HEAD is
        detached exactly at a tag, else None (detached HEAD)."""
        ref = self._try("symbolic-ref", "--quiet", "HEAD")
        if ref:
            return ref
        tag = self._try("describe", "--tags", "--exact-match", "HEAD")
        return f"refs/tags/{tag}" if tag else None

    def default_branch(self) -> str:
        """The branch ``origin/HEAD`` names; else ``main``/``master`` if present; else the
        current branch (a plain local repository has no other notion of a default)."""
        remote_head = self._try("symbolic-ref", "--quiet", "refs/remotes/origin/HEAD")
        if remote_head:
            return remote_head.removeprefix("refs/remotes/origin/")
        for name in ("main", "master"):
            if self.resolve(f"refs/heads/{name}"):
                return name
        current = self.current_ref() or "refs/heads/main"
        return current.removeprefix("refs/heads/").removeprefix("refs/tags/")

    def remote_url(self, name: str = "origin") -> str | None:
        """The fetch URL of remote ``name``, or None when there is no such remote."""
        return self._try("remote", "get-url", name)

    @property
    def name(self) -> str:
        """``owner/repo`` from ``origin``, else ``local/<directory name>``."""
        url = self.remote_url()
        named = repository_name_from_url(url) if url else None
        return named or f"local/{self.root.name}"

    def commit(self, revision: str = "HEAD") -> Commit:
        """The commit ``revision`` names, with its file changes against its first parent."""
        sha = self.resolve(revision)
        if sha is None:
            raise GitError(f"{revision!r} is not a commit in {self.root}")
        fmt = "%T%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B"
        fields = self.git("show", "-s", f"--format={fmt}", sha).split("\0", 8)
        tree, parents, an, ae, ad, cn, ce, cd, message = fields
        return Commit(
            sha=sha,
            tree=tree,
            parents=tuple(parents.split()),
            message=message.rstrip("\n"),
            author=Person(an, ae, ad),
            committer=Person(cn, ce, cd),
            changes=self._changes(sha),
        )

    def _changes(self, sha: str) -> FileChanges:
        out = self.git(
            "diff-tree",
            "-r",
            "-z",
            "--root",
            "--no-renames",
            "--no-commit-id",
            "--name-status",
            "-m",
            "--first-parent",
            sha,
        )
        items = [p for p in out.split("\0") if p]
        by_status: dict[str, set[str]] = {"A": set(), "D": set(), "M": set()}
        for status, path in zip(items[::2], items[1::2], strict=False):
            by_status.get(status[:1], by_status["M"]).add(path)
        return FileChanges(
            added=tuple(sorted(by_status["A"])),
            removed=tuple(sorted(by_status["D"])),
            modified=tuple(sorted(by_status["M"])),
        )

    def author(self, revision: str = "HEAD") -> Person:
        """Who wrote ``revision`` (the run's actor when no payload names one)."""
        return self.commit(revision).author

    def commit_files(self, revision: str) -> tuple[str, ...]:
        """Every path the commit touched against its first parent (all files of a root)."""
        changes = self.commit(revision).changes
        return tuple(sorted({*changes.added, *changes.removed, *changes.modified}))

    def changed_files(
        self, before: str | None = None, after: str | None = None
    ) -> tuple[str, ...] | None:
        """The paths that differ between ``before`` and ``after`` (see the module docstring
        for new branches, missing payloads and unknown commits)."""
        target = after or "HEAD"
        if self.resolve(target) is None:
            return None
        if not before:
            return self.commit_files(target)
        if set(before) == {"0"}:
            return self.commit_files(target)
        if self.resolve(before) is None:
            return None
        out = self.git("diff", "--name-only", "-z", "--no-renames", before, target, "--")
        return _nul_list(out)

    def merge_base(self, a: str, b: str) -> str | None:
        """The best common ancestor of two commits, or None when they share none."""
        return self._try("merge-base", a, b)

    def commits_between(self, before: str | None, after: str, *, limit: int = 20) -> list[Commit]:
        """The commits reachable from ``after`` but not ``before``, oldest first, at most
        ``limit`` (GitHub's push payload lists up to 20); a new branch lists ``after``."""
        if not before or set(before) == {"0"} or self.resolve(before) is None:
            return [self.commit(after)]
        shas = self.git("rev-list", "--reverse", f"{before}..{after}").split()
        return [self.commit(sha) for sha in shas[-limit:]]
