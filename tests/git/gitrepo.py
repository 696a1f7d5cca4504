"""Helpers that build small Git repositories in a temporary directory."""

from __future__ import annotations

import subprocess
from pathlib import Path

IDENTITY = ["-c", "user.name=Ada Lovelace", "-c", "user.email=ada@example.com"]


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), *IDENTITY, *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def init(root: Path, branch: str = "main") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", branch)
    return root


def commit(root: Path, message: str, files: dict[str, str | None]) -> str:
    """Write (or delete, for None) ``files`` and commit them; returns the new sha."""
    for name, text in files.items():
        path = root / name
        if text is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", message)
    return git(root, "rev-parse", "HEAD")
