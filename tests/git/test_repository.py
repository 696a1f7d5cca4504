"""Repository facts read from real temporary Git repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.core.errors import NotFoundError
from shipyard.git import ZERO_SHA, GitError, Repository, repository_name_from_url
from tests.git.gitrepo import commit, git, init


@pytest.fixture
def repo_dir(tmp_path: Path) -> Path:
    return init(tmp_path / "shop")


def test_root_head_and_branch_from_a_subdirectory(repo_dir: Path) -> None:
    sha = commit(repo_dir, "first", {"src/app.py": "print(1)\n"})
    repo = Repository(repo_dir / "src")
    assert repo.root == repo_dir.resolve()
    assert repo.head_sha() == sha
    assert repo.current_ref() == "refs/heads/main"


def test_outside_a_repository_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="not inside a git repository"):
        Repository(tmp_path)


def test_no_commits_yet_says_so(repo_dir: Path) -> None:
    with pytest.raises(GitError, match="no commits yet"):
        Repository(repo_dir).head_sha()


def test_detached_head_at_a_tag_reports_the_tag(repo_dir: Path) -> None:
    commit(repo_dir, "first", {"a": "1"})
    git(repo_dir, "tag", "v1.0")
    commit(repo_dir, "second", {"a": "2"})
    git(repo_dir, "checkout", "-q", "v1.0")
    assert Repository(repo_dir).current_ref() == "refs/tags/v1.0"
    git(repo_dir, "checkout", "-q", "HEAD~0^{commit}")
    commit(repo_dir, "detached", {"a": "3"})
    assert Repository(repo_dir).current_ref() is None


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://github.com/acme/shop.git", "acme/shop"),
        ("https://github.com/acme/shop", "acme/shop"),
        ("git@github.com:acme/shop.git", "acme/shop"),
        ("ssh://git@gitlab.example.com:2222/group/acme/shop.git", "acme/shop"),
        ("/srv/git/shop.git", None),
        ("file:///srv/git/acme/shop.git", None),
        ("https://github.com/shop", None),
    ],
)
def test_repository_name_from_remote_urls(url: str, name: str | None) -> None:
    assert repository_name_from_url(url) == name


def test_name_from_origin_else_local_directory(repo_dir: Path) -> None:
    commit(repo_dir, "first", {"a": "1"})
    repo = Repository(repo_dir)
    assert repo.name == "local/shop"
    git(repo_dir, "remote", "add", "origin", "git@github.com:acme/web-shop.git")
    assert repo.name == "acme/web-shop"


def test_commit_author_and_file_changes(repo_dir: Path) -> None:
    commit(repo_dir, "first", {"keep": "1", "old": "x", "gone": "y"})
    git(repo_dir, "mv", "old", "new")
    sha = commit(repo_dir, "second\n\nbody text", {"keep": "2", "gone": None, "added": "z"})
    c = Repository(repo_dir).commit()
    assert c.sha == sha
    assert c.message == "second\n\nbody text"
    assert (c.author.name, c.author.email) == ("Ada Lovelace", "ada@example.com")
    assert c.changes.added == ("added", "new")
    assert c.changes.removed == ("gone", "old")
    assert c.changes.modified == ("keep",)
    assert len(c.parents) == 1


def test_changed_files_between_two_commits_splits_renames(repo_dir: Path) -> None:
    first = commit(repo_dir, "first", {"docs/a.md": "a", "src/x.py": "x"})
    commit(repo_dir, "second", {"docs/a.md": "b"})
    git(repo_dir, "mv", "src/x.py", "src/y z.py")
    last = commit(repo_dir, "third", {})
    repo = Repository(repo_dir)
    assert repo.changed_files(first, last) == ("docs/a.md", "src/x.py", "src/y z.py")


def test_changed_files_new_branch_and_missing_payload(repo_dir: Path) -> None:
    root = commit(repo_dir, "root", {"a": "1", "b/c": "2"})
    head = commit(repo_dir, "next", {"b/c": "3"})
    repo = Repository(repo_dir)
    assert repo.changed_files() == ("b/c",)  # the last commit against its parent
    assert repo.changed_files(ZERO_SHA, head) == ("b/c",)
    assert repo.changed_files(None, root) == ("a", "b/c")  # a root commit: all its files


def test_changed_files_unknown_commits_are_unknown(repo_dir: Path) -> None:
    commit(repo_dir, "root", {"a": "1"})
    repo = Repository(repo_dir)
    assert repo.changed_files("1234567" * 5 + "89abc", "HEAD") is None
    assert repo.changed_files(None, "no-such-branch") is None


def test_commits_between_oldest_first_and_limited(repo_dir: Path) -> None:
    base = commit(repo_dir, "base", {"a": "0"})
    shas = [commit(repo_dir, f"c{i}", {"a": str(i)}) for i in range(4)]
    repo = Repository(repo_dir)
    assert [c.sha for c in repo.commits_between(base, shas[-1])] == shas
    assert [c.sha for c in repo.commits_between(base, shas[-1], limit=2)] == shas[-2:]
    assert [c.sha for c in repo.commits_between(ZERO_SHA, shas[-1])] == [shas[-1]]


def test_default_branch_prefers_main_then_current(tmp_path: Path) -> None:
    trunk = init(tmp_path / "t", branch="trunk")
    commit(trunk, "first", {"a": "1"})
    assert Repository(trunk).default_branch() == "trunk"
    git(trunk, "branch", "main")
    git(trunk, "checkout", "-q", "-b", "feature")
    assert Repository(trunk).default_branch() == "main"


def test_a_file_is_not_a_repository_directory(repo_dir: Path) -> None:
    commit(repo_dir, "first", {"a": "1"})
    with pytest.raises(NotFoundError, match="is not a directory"):
        Repository(repo_dir / "a")
