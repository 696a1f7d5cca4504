"""Git: facts about a local checkout for CI runs (read through the ``git`` binary).

``Repository`` answers what a run needs to know about the checkout it runs for (root, HEAD,
branch, ``owner/repo``, authors, changed files); ``events`` builds the push, pull_request,
workflow_dispatch and schedule payloads GitHub would deliver, or reads an ``event.json``.
Hosting (bare repositories, smart HTTP, push hooks) is planned in docs/architecture.md.
"""

from shipyard.git.events import (
    changed_files_for,
    default_payload,
    load_payload,
    pull_request_payload,
    push_payload,
    schedule_payload,
    workflow_dispatch_payload,
)
from shipyard.git.repository import (
    ZERO_SHA,
    Commit,
    FileChanges,
    GitError,
    Person,
    Repository,
    repository_name_from_url,
)

__all__ = [
    "ZERO_SHA",
    "Commit",
    "FileChanges",
    "GitError",
    "Person",
    "Repository",
    "changed_files_for",
    "default_payload",
    "load_payload",
    "pull_request_payload",
    "push_payload",
    "repository_name_from_url",
    "schedule_payload",
    "workflow_dispatch_payload",
]
