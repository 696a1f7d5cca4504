"""Time only through the injected clock: no module but core/clock.py reads it or sleeps.

This is the check STYLE.md asks for: controllers must run unchanged on a virtual clock, so a
stray ``time.time()`` or ``asyncio.sleep`` is a bug even when it looks harmless.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "shipyard"
ALLOWED = {SRC / "core" / "clock.py"}

# (module, attribute) pairs that read the wall clock or block on real time.
FORBIDDEN = {
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "monotonic"),
    ("time", "monotonic_ns"),
    ("time", "perf_counter"),
    ("time", "sleep"),
    ("time", "localtime"),
    ("time", "gmtime"),
    ("asyncio", "sleep"),
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("threading", "Timer"),
}


def _violations(path: Path, root: Path = SRC) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if (node.value.id, node.attr) in FORBIDDEN:
                found.append(f"{path.relative_to(root)}:{node.lineno}: {node.value.id}.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module in {"time", "asyncio"}:
            for alias in node.names:
                if (node.module, alias.name) in FORBIDDEN:
                    found.append(
                        f"{path.relative_to(root)}:{node.lineno}: from {node.module} "
                        f"import {alias.name}"
                    )
    return found


def test_the_checker_catches_a_wall_clock_read(tmp_path: Path) -> None:
    bad = tmp_path / "probe.py"
    bad.write_text("import time\nx = time.time()\nfrom asyncio import sleep\n")
    assert len(_violations(bad, tmp_path)) == 2


@pytest.mark.parametrize(
    "path",
    sorted(p for p in SRC.rglob("*.py") if p not in ALLOWED),
    ids=lambda p: str(p.relative_to(SRC)),
)
def test_no_wall_clock_outside_core_clock(path: Path) -> None:
    assert _violations(path) == []
