"""Event payloads for a local run: built from the checkout, or read from ``event.json``.

Design
------
A workflow run needs the event that triggered it: its name and the JSON payload GitHub
would have delivered (``github.event``). A local run usually has no delivery, so
:func:`default_payload` builds one from the checkout in GitHub's documented shapes, with the
fields workflows read:

- ``push``: ``ref``, ``before`` (the parent of HEAD, forty zeros for a root commit),
  ``after``, ``created``/``deleted``/``forced``, ``base_ref``, ``compare``, ``commits``
  (oldest first, at most 20), ``head_commit``, ``repository``, ``pusher``, ``sender``.
- ``pull_request``: ``action`` (``opened``), ``number``, ``pull_request`` with ``head`` and
  ``base`` (``ref``, ``sha``, ``label``, ``repo``), ``title``/``body`` from the head commit,
  ``merge_commit_sha`` null (Shipyard creates no merge commit, so ``github.sha`` is the head).
  The base is the default branch (or ``--base``) at its merge base with HEAD; when HEAD *is*
  the base branch, the base is HEAD's parent, as if the last commit were the pull request.
- ``workflow_dispatch``: ``inputs``, ``ref``, ``repository``, ``sender``, ``workflow``.
- ``schedule``: ``schedule`` (the cron that fired, filled in per workflow by the caller when
  the payload is built before the cron is known) and ``repository``.

:func:`load_payload` reads an ``-e event.json`` file (a JSON object, errors say where), and
:func:`changed_files_for` picks the commits a payload compares for path filters: a push's
``before..after``, a pull request's ``base.sha...head.sha`` (the merge base, as GitHub's
three-dot diff), the last commit when there is no payload.

Differences from GitHub: user objects carry ``login``/``name``/``email`` from the commit
author (no ids or avatar URLs), ``repository`` holds the naming fields only, and URLs point
at ``https://github.com/<owner>/<repo>`` whatever the remote host.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from shipyard.core.errors import FieldError, InvalidError, NotFoundError
from shipyard.git.repository import ZERO_SHA, Commit, Person, Repository

__all__ = [
    "SERVER_URL",
    "EventName",
    "changed_files_for",
    "default_payload",
    "load_payload",
    "pull_request_payload",
    "push_payload",
    "schedule_payload",
    "workflow_dispatch_payload",
]

EventName = Literal["push", "pull_request", "workflow_dispatch", "schedule"]
SERVER_URL = "https://github.com"
Payload = dict[str, object]


def _login(person: Person) -> str:
    """A GitHub-style login from a person: the email's local part, else the name."""
    local = person.email.split("@", 1)[0] if "@" in person.email else ""
    return local or "-".join(person.name.split()) or "local"


def _user(person: Person) -> Payload:
    return {"login": _login(person), "name": person.name, "email": person.email, "type": "User"}


def repository_payload(repo: Repository) -> Payload:
    """The ``repository`` object of a payload."""
    full_name = repo.name
    owner, name = full_name.split("/", 1)
    default_branch = repo.default_branch()
    return {
        "name": name,
        "full_name": full_name,
        "owner": {"login": owner, "name": owner},
        "private": True,
        "html_url": f"{SERVER_URL}/{full_name}",
        "clone_url": f"{SERVER_URL}/{full_name}.git",
        "default_branch": default_branch,
        "master_branch": default_branch,
    }


def commit_payload(full_name: str, commit: Commit) -> Payload:
    """One entry of a push payload's ``commits`` (and its ``head_commit``) of ``owner/repo``."""
    return {
        "id": commit.sha,
        "tree_id": commit.tree,
        "distinct": True,
        "message": commit.message,
        "timestamp": commit.committer.date,
        "url": f"{SERVER_URL}/{full_name}/commit/{commit.sha}",
        "author": {**_user(commit.author), "username": _login(commit.author)},
        "committer": {**_user(commit.committer), "username": _login(commit.committer)},
        "added": list(commit.changes.added),
        "removed": list(commit.changes.removed),
        "modified": list(commit.changes.modified),
    }


def _head(repo: Repository, ref: str | None) -> tuple[str, str]:
    sha = repo.head_sha()
    return ref or repo.current_ref() or f"refs/heads/{repo.default_branch()}", sha


def push_payload(
    repo: Repository, *, ref: str | None = None, before: str | None = None, after: str | None = None
) -> Payload:
    """A ``push`` of ``after`` (default HEAD) to ``ref`` (default the current branch) whose
    previous tip was ``before`` (default HEAD's parent; zeros for a root commit)."""
    full_ref, head = _head(repo, ref)
    after_sha = repo.resolve(after) if after else head
    if after_sha is None:
        raise NotFoundError(f"push: {after!r} is not a commit in {repo.root}")
    head_commit = repo.commit(after_sha)
    before_sha = before or (head_commit.parents[0] if head_commit.parents else ZERO_SHA)
    pusher = _user(head_commit.author)
    commits = repo.commits_between(before_sha, after_sha)
    full_name = repo.name
    return {
        "ref": full_ref,
        "before": before_sha,
        "after": after_sha,
        "created": before_sha == ZERO_SHA,
        "deleted": False,
        "forced": False,
        "base_ref": None,
        "compare": f"{SERVER_URL}/{full_name}/compare/{before_sha[:12]}...{after_sha[:12]}",
        "commits": [commit_payload(full_name, c) for c in commits],
        "head_commit": commit_payload(full_name, head_commit),
        "repository": repository_payload(repo),
        "pusher": {"name": pusher["login"], "email": pusher["email"]},
        "sender": pusher,
    }


def _pull_base(repo: Repository, base: str, head_sha: str, head_ref: str) -> str:
    base_tip = repo.resolve(f"refs/heads/{base}") or repo.resolve(base)
    if base_tip is not None and head_ref != f"refs/heads/{base}":
        merge_base = repo.merge_base(base_tip, head_sha)
        if merge_base is not None:
            return merge_base
    parents = repo.commit(head_sha).parents
    return parents[0] if parents else head_sha


def pull_request_payload(
    repo: Repository, *, base: str | None = None, number: int = 1, action: str = "opened"
) -> Payload:
    """A pull request from the current branch into ``base`` (default: the default branch)."""
    head_ref, head_sha = _head(repo, None)
    base_branch = (base or repo.default_branch()).removeprefix("refs/heads/")
    base_sha = _pull_base(repo, base_branch, head_sha, head_ref)
    head_commit = repo.commit(head_sha)
    sender = _user(head_commit.author)
    repository = repository_payload(repo)
    owner = repo.name.split("/", 1)[0]
    head_branch = head_ref.removeprefix("refs/heads/").removeprefix("refs/tags/")
    title, _, body = head_commit.message.partition("\n")
    return {
        "action": action,
        "number": number,
        "pull_request": {
            "number": number,
            "state": "open",
            "title": title,
            "body": body.strip() or None,
            "user": sender,
            "draft": False,
            "merged": False,
            "merge_commit_sha": None,
            "html_url": f"{SERVER_URL}/{repo.name}/pull/{number}",
            "head": _branch(owner, head_branch, head_sha, repository, sender),
            "base": _branch(owner, base_branch, base_sha, repository, sender),
        },
        "repository": repository,
        "sender": sender,
    }


def _branch(owner: str, ref: str, sha: str, repository: Payload, user: Payload) -> Payload:
    return {"label": f"{owner}:{ref}", "ref": ref, "sha": sha, "repo": repository, "user": user}


def workflow_dispatch_payload(
    repo: Repository,
    *,
    inputs: Mapping[str, object] | None = None,
    ref: str | None = None,
    workflow: str = "",
) -> Payload:
    """A manual run of ``workflow`` (its path) on ``ref`` with ``inputs`` as given."""
    full_ref, head_sha = _head(repo, ref)
    return {
        "inputs": dict(inputs or {}),
        "ref": full_ref,
        "repository": repository_payload(repo),
        "sender": _user(repo.author(head_sha)),
        "workflow": workflow,
    }


def default_payload(
    repo: Repository, event: EventName, *, inputs: Mapping[str, object] | None = None
) -> Payload:
    """The payload of ``event`` built from the checkout's HEAD."""
    if event == "push":
        return push_payload(repo)
    if event == "pull_request":
        return pull_request_payload(repo)
    if event == "schedule":
        return schedule_payload(repo)
    return workflow_dispatch_payload(repo, inputs=inputs)


def schedule_payload(repo: Repository, cron: str | None = None) -> Payload:
    """A scheduled run: ``schedule`` is the cron that fired (added per workflow when None)."""
    payload: Payload = {"repository": repository_payload(repo)}
    if cron is not None:
        payload["schedule"] = cron
    return payload


def load_payload(path: str | Path) -> Payload:
    """The JSON object in ``path`` (an ``-e event.json`` file)."""
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise NotFoundError(f"event file {file} does not exist") from e
    except json.JSONDecodeError as e:
        raise InvalidError(
            f"event file {file}", [FieldError(f"{file}:{e.lineno}:{e.colno}", e.msg)]
        ) from e
    if not isinstance(data, dict):
        raise InvalidError(f"event file {file}", [FieldError(str(file), "must hold a JSON object")])
    return data


def _text(payload: Mapping[str, object], *keys: str) -> str | None:
    value: object = payload
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value if isinstance(value, str) and value else None


def changed_files_for(
    repo: Repository, event: str, payload: Mapping[str, object] | None
) -> tuple[str, ...] | None:
    """The files the event changed, for path filters (None: unknown, filters pass)."""
    if not payload:
        return repo.changed_files()
    if event in ("pull_request", "pull_request_target"):
        base = _text(payload, "pull_request", "base", "sha")
        head = _text(payload, "pull_request", "head", "sha")
        if base is None or head is None:
            return None
        merge_base = repo.merge_base(base, head) if repo.resolve(base) else None
        return repo.changed_files(merge_base or base, head)
    before, after = _text(payload, "before"), _text(payload, "after")
    if after is None:
        return repo.changed_files() if before is None else None
    return repo.changed_files(before, after)
