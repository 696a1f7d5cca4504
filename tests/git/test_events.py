"""Default payloads built from a checkout, event files, and the files an event changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipyard.core.errors import InvalidError, NotFoundError
from shipyard.git import (
    ZERO_SHA,
    Repository,
    changed_files_for,
    default_payload,
    load_payload,
    pull_request_payload,
    push_payload,
    schedule_payload,
    workflow_dispatch_payload,
)
from tests.git.gitrepo import commit, git, init


@pytest.fixture
def repo(tmp_path: Path) -> Repository:
    root = init(tmp_path / "shop")
    commit(root, "initial", {"README.md": "hi", "src/app.py": "1"})
    commit(root, "change app\n\nlonger body", {"src/app.py": "2", "docs/x.md": "d"})
    git(root, "remote", "add", "origin", "https://github.com/acme/shop.git")
    return Repository(root)


def test_push_payload_shape(repo: Repository) -> None:
    payload = push_payload(repo)
    head = repo.head_sha()
    parent = repo.resolve("HEAD~1")
    assert payload["ref"] == "refs/heads/main"
    assert (payload["before"], payload["after"]) == (parent, head)
    assert payload["created"] is False
    head_commit = payload["head_commit"]
    assert isinstance(head_commit, dict)
    assert head_commit["id"] == head
    assert head_commit["message"] == "change app\n\nlonger body"
    assert head_commit["added"] == ["docs/x.md"] and head_commit["modified"] == ["src/app.py"]
    assert head_commit["author"]["username"] == "ada"
    assert [c["id"] for c in payload["commits"]] == [head]  # type: ignore[attr-defined,index]
    assert payload["repository"]["full_name"] == "acme/shop"  # type: ignore[index]
    assert payload["repository"]["default_branch"] == "main"  # type: ignore[index]
    assert payload["pusher"] == {"name": "ada", "email": "ada@example.com"}
    assert payload["sender"]["login"] == "ada"  # type: ignore[index]


def test_push_payload_of_a_root_commit_is_a_new_branch(tmp_path: Path) -> None:
    root = init(tmp_path / "fresh")
    commit(root, "only", {"a": "1"})
    payload = push_payload(Repository(root))
    assert payload["before"] == ZERO_SHA and payload["created"] is True


def test_pull_request_from_a_feature_branch(repo: Repository) -> None:
    main = repo.head_sha()
    git(repo.root, "checkout", "-q", "-b", "feature/login")
    head = commit(repo.root, "add login", {"src/login.py": "x"})
    payload = pull_request_payload(repo, number=7)
    pr = payload["pull_request"]
    assert isinstance(pr, dict)
    assert payload["action"] == "opened" and payload["number"] == 7
    assert pr["head"]["ref"] == "feature/login" and pr["head"]["sha"] == head
    assert pr["base"]["ref"] == "main" and pr["base"]["sha"] == main
    assert pr["head"]["label"] == "acme:feature/login"
    assert pr["title"] == "add login" and pr["merge_commit_sha"] is None
    assert changed_files_for(repo, "pull_request", payload) == ("src/login.py",)


def test_pull_request_on_the_base_branch_is_the_last_commit(repo: Repository) -> None:
    payload = pull_request_payload(repo)
    pr = payload["pull_request"]
    assert isinstance(pr, dict)
    assert pr["base"]["sha"] == repo.resolve("HEAD~1")
    assert changed_files_for(repo, "pull_request", payload) == ("docs/x.md", "src/app.py")


def test_pull_request_diff_is_against_the_merge_base(repo: Repository) -> None:
    git(repo.root, "checkout", "-q", "-b", "topic")
    commit(repo.root, "topic work", {"topic.txt": "t"})
    git(repo.root, "checkout", "-q", "main")
    commit(repo.root, "main moves on", {"main.txt": "m"})
    git(repo.root, "checkout", "-q", "topic")
    payload = pull_request_payload(repo)
    assert changed_files_for(repo, "pull_request", payload) == ("topic.txt",)


def test_workflow_dispatch_payload(repo: Repository) -> None:
    payload = workflow_dispatch_payload(
        repo, inputs={"level": "debug"}, workflow=".github/workflows/ci.yml"
    )
    assert payload["inputs"] == {"level": "debug"}
    assert payload["ref"] == "refs/heads/main"
    assert payload["workflow"] == ".github/workflows/ci.yml"
    assert default_payload(repo, "workflow_dispatch")["inputs"] == {}


def test_schedule_payload(repo: Repository) -> None:
    payload = schedule_payload(repo, "30 5 * * 1")
    assert payload["schedule"] == "30 5 * * 1"
    assert payload["repository"] == default_payload(repo, "push")["repository"]
    assert "schedule" not in default_payload(repo, "schedule")  # filled in per workflow


def test_changed_files_of_push_payloads(repo: Repository) -> None:
    first = repo.resolve("HEAD~1")
    head = repo.head_sha()
    assert changed_files_for(repo, "push", None) == ("docs/x.md", "src/app.py")
    assert changed_files_for(repo, "push", {"before": first, "after": head}) == (
        "docs/x.md",
        "src/app.py",
    )
    assert changed_files_for(repo, "push", {"before": ZERO_SHA, "after": head}) == (
        "docs/x.md",
        "src/app.py",
    )
    assert changed_files_for(repo, "push", {"before": "f" * 40, "after": head}) is None
    assert changed_files_for(repo, "push", {"ref": "refs/heads/main"}) == (
        "docs/x.md",
        "src/app.py",
    )


def test_load_payload_reads_objects_and_positions_errors(tmp_path: Path) -> None:
    good = tmp_path / "event.json"
    good.write_text(json.dumps({"ref": "refs/heads/x"}))
    assert load_payload(good) == {"ref": "refs/heads/x"}
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "ref": }')
    with pytest.raises(InvalidError) as err:
        load_payload(bad)
    assert f"{bad}:2:10" in str(err.value.causes[0])
    listed = tmp_path / "list.json"
    listed.write_text("[]")
    with pytest.raises(InvalidError, match="event file"):
        load_payload(listed)
    with pytest.raises(NotFoundError, match="does not exist"):
        load_payload(tmp_path / "missing.json")
