"""CI test configuration: the expression-vector census at the end of the test output."""

from __future__ import annotations

import sys

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    module = sys.modules.get("tests.ci.test_expressions_vectors")
    census = getattr(module, "census", None)
    if callable(census):
        terminalreporter.write_line(census())
