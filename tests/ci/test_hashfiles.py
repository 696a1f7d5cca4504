"""``hashFiles`` with GitHub's algorithm: the peer vectors end to end, the glob rules, errors.

The vectors in ``expr_vectors.jsonl`` are evaluated through ``evaluate`` with the real hook
on a temporary workspace holding copies of the fixture files in ``compat_dir()/hashfiles``.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.ci.expressions import EvaluationOptions, evaluate
from shipyard.ci.hashfiles import HashFilesError, hash_files, hash_files_hook
from shipyard.core.errors import PermanentError
from tests.compat import compat_dir


def _vectors() -> list[Any]:
    lines = (compat_dir() / "expr_vectors.jsonl").read_text(encoding="utf-8").splitlines()
    vectors = [json.loads(line) for line in lines if line.strip()]
    chosen = [v for v in vectors if "hashfiles(" in v["expr"].lower()]
    return [pytest.param(v, id=v["name"]) for v in chosen]


VECTORS = _vectors()


def github_digest(root: Path, names: Sequence[str]) -> str:
    """The documented algorithm, spelled out: SHA-256 over the files' raw SHA-256 digests."""
    if not names:
        return ""
    digests = b"".join(hashlib.sha256((root / name).read_bytes()).digest() for name in names)
    return hashlib.sha256(digests).hexdigest()


def make_tree(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def fixtures(tmp_path: Path) -> Path:
    workspace = tmp_path / "workspace"
    shutil.copytree(compat_dir() / "hashfiles", workspace)
    return workspace


# --- peer vectors -------------------------------------------------------------------------


def test_the_hashfiles_vectors_are_read() -> None:
    assert len(VECTORS) == 6


@pytest.mark.parametrize("vector", VECTORS)
def test_vector_end_to_end(vector: dict[str, Any], fixtures: Path) -> None:
    options = EvaluationOptions(hash_files=hash_files_hook(fixtures))
    got = evaluate(vector["expr"], vector["context"] or {}, options=options)
    assert got == vector["expected"]
    assert got == github_digest(fixtures, vector["matched_files"])
    if vector["matched_files"]:
        assert got != vector["expected_act"]


def test_fixture_single_file_is_the_digest_of_its_digest(fixtures: Path) -> None:
    data = (fixtures / "for-hashing-1.txt").read_bytes()
    expected = hashlib.sha256(hashlib.sha256(data).digest()).hexdigest()
    assert hash_files(fixtures, ["for-hashing-1.txt"]) == expected


def test_a_directory_pattern_hashes_every_file_below_it(fixtures: Path) -> None:
    expected = github_digest(
        fixtures, ["for-hashing-3/data.txt", "for-hashing-3/nested/nested-data.txt"]
    )
    assert hash_files(fixtures, ["for-hashing-3"]) == expected
    assert hash_files(fixtures, ["for-hashing-3/"]) == expected
    assert hash_files(fixtures, ["./for-hashing-3/**"]) == expected


def test_patterns_in_one_argument_split_on_lines_with_comments(fixtures: Path) -> None:
    text = "# cache key\n\n  for-hashing-*.txt  \n!for-hashing-2.txt\n"
    assert hash_files(fixtures, [text]) == github_digest(fixtures, ["for-hashing-1.txt"])


def test_the_workspace_path_is_not_read_as_a_glob(tmp_path: Path) -> None:
    workspace = make_tree(tmp_path / "w[s]*", {"a.txt": "a"})
    assert hash_files(workspace, ["a.txt"]) == github_digest(workspace, ["a.txt"])


# --- order and selection ------------------------------------------------------------------


def test_files_come_in_walk_order_of_sorted_names(tmp_path: Path) -> None:
    make_tree(tmp_path, {"a.txt": "1", "a/b.txt": "2", "B.txt": "3"})
    # depth first with sorted names: B.txt, a/b.txt, a.txt ('a' < 'a.txt')
    assert hash_files(tmp_path, ["**"]) == github_digest(tmp_path, ["B.txt", "a/b.txt", "a.txt"])


def test_order_of_patterns_does_not_change_the_order_of_files(tmp_path: Path) -> None:
    make_tree(tmp_path, {"x/1.txt": "1", "y/2.txt": "2"})
    assert hash_files(tmp_path, ["y/*", "x/*"]) == github_digest(tmp_path, ["x/1.txt", "y/2.txt"])


def test_a_later_pattern_includes_again_what_an_exclusion_removed(tmp_path: Path) -> None:
    make_tree(tmp_path, {"a/keep.txt": "k", "a/drop.txt": "d", "b.txt": "b"})
    got = hash_files(tmp_path, ["**/*.txt", "!a", "a/keep.txt"])
    assert got == github_digest(tmp_path, ["a/keep.txt", "b.txt"])
    assert hash_files(tmp_path, ["**/*.txt", "!!a"]) == hash_files(tmp_path, ["**/*.txt"])


def test_globs_match_dot_files_classes_and_single_characters(tmp_path: Path) -> None:
    make_tree(tmp_path, {".env": "e", "f1": "1", "f2": "2", "fx": "x", "[a].txt": "lit"})
    assert hash_files(tmp_path, ["*env"]) == github_digest(tmp_path, [".env"])
    assert hash_files(tmp_path, ["f[0-9]"]) == github_digest(tmp_path, ["f1", "f2"])
    assert hash_files(tmp_path, ["f[!0-9]"]) == github_digest(tmp_path, ["fx"])
    assert hash_files(tmp_path, ["f?"]) == github_digest(tmp_path, ["f1", "f2", "fx"])
    assert hash_files(tmp_path, ["\\[a\\].txt"]) == github_digest(tmp_path, ["[a].txt"])


def test_globstar_inside_a_segment_is_a_single_star(tmp_path: Path) -> None:
    make_tree(tmp_path, {"lib-a/x.txt": "x", "lib-b.txt": "b"})
    assert hash_files(tmp_path, ["lib-**.txt"]) == github_digest(tmp_path, ["lib-b.txt"])


def test_matching_is_case_sensitive(tmp_path: Path) -> None:
    make_tree(tmp_path, {"Readme.md": "r"})
    assert hash_files(tmp_path, ["readme.md"]) == ""


def test_nothing_matched_and_only_directories_matched_give_empty(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert hash_files(tmp_path, ["empty"]) == ""
    assert hash_files(tmp_path, ["missing/**/x"]) == ""


# --- the workspace boundary and symbolic links --------------------------------------------


def test_files_outside_the_workspace_are_ignored(tmp_path: Path) -> None:
    workspace = make_tree(tmp_path / "ws", {"in.txt": "i"})
    make_tree(tmp_path, {"out.txt": "o"})
    assert hash_files(workspace, [str(tmp_path / "out.txt")]) == ""
    assert hash_files(workspace, [f"{tmp_path}/**/*.txt"]) == github_digest(workspace, ["in.txt"])
    assert hash_files(workspace, [str(workspace / "in.txt")]) == github_digest(
        workspace, ["in.txt"]
    )


def test_symbolic_links_to_directories_are_followed_only_when_asked(tmp_path: Path) -> None:
    outside = make_tree(tmp_path / "outside", {"lib.txt": "l"})
    workspace = make_tree(tmp_path / "ws", {"a.txt": "a"})
    (workspace / "linked").symlink_to(outside, target_is_directory=True)
    (workspace / "loop").symlink_to(workspace, target_is_directory=True)
    assert hash_files(workspace, ["**"]) == github_digest(workspace, ["a.txt"])
    followed = hash_files(workspace, ["--follow-symbolic-links", "**"])
    assert followed == github_digest(workspace, ["a.txt", "linked/lib.txt"])


def test_a_symbolic_link_to_a_file_hashes_the_target(tmp_path: Path) -> None:
    target = make_tree(tmp_path / "outside", {"t.txt": "target"}) / "t.txt"
    workspace = make_tree(tmp_path / "ws", {})
    (workspace / "link.txt").symlink_to(target)
    assert hash_files(workspace, ["link.txt"]) == github_digest(target.parent, ["t.txt"])


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", ["../x", "a/../b", "a/./b"])
def test_relative_segments_are_rejected(tmp_path: Path, pattern: str) -> None:
    with pytest.raises(HashFilesError, match=r"invalid pattern .*'\.' is allowed only"):
        hash_files(tmp_path, [pattern])


def test_an_unknown_option_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(HashFilesError, match="invalid glob option '--deep'"):
        hash_files(tmp_path, ["--deep", "**"])


def test_a_dangling_link_fails_the_call_through_evaluate(tmp_path: Path) -> None:
    (tmp_path / "gone.txt").symlink_to(tmp_path / "missing")
    options = EvaluationOptions(hash_files=hash_files_hook(tmp_path))
    with pytest.raises(HashFilesError, match=r"hashFiles\('\*\.txt'\) failed: cannot read .*gone"):
        evaluate("hashFiles('*.txt')", {}, options=options)
    assert issubclass(HashFilesError, PermanentError)
    following = hash_files(tmp_path, ["--follow-symbolic-links", "*.txt"])
    assert following == ""


# --- properties ---------------------------------------------------------------------------

_names = st.text(alphabet="ab.*?[]", min_size=1, max_size=3).filter(lambda n: n not in (".", ".."))
_trees = st.lists(st.lists(_names, min_size=1, max_size=3), min_size=1, max_size=6)


def _write(root: Path, paths: list[list[str]]) -> list[str]:
    written: list[str] = []
    for parts in paths:
        target = root.joinpath(*parts)
        blocked = any(root.joinpath(*parts[:i]).is_file() for i in range(1, len(parts)))
        if blocked or target.is_dir() or target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("/".join(parts), encoding="utf-8")
        written.append("/".join(parts))
    return written


@settings(max_examples=40)
@given(_trees, st.randoms(use_true_random=False))
def test_property_any_literal_subset_hashes_in_sorted_segment_order(
    paths: list[list[str]], rng: Any
) -> None:
    with tempfile.TemporaryDirectory() as name:
        root = Path(name)
        written = _write(root, paths)
        in_order = sorted(written, key=lambda p: p.split("/"))
        assert hash_files(root, ["**"]) == github_digest(root, in_order)
        chosen = [p for p in written if rng.random() < 0.5]
        shuffled = list(chosen)
        rng.shuffle(shuffled)
        escaped = [re.sub(r"([*?\[\]])", r"\\\1", p) for p in shuffled]
        expected = github_digest(root, sorted(chosen, key=lambda p: p.split("/")))
        assert hash_files(root, escaped) == expected
        excluded = ["**", *(f"!{p}" for p in escaped)]
        rest = [p for p in in_order if p not in chosen]
        assert hash_files(root, excluded) == github_digest(root, rest)
