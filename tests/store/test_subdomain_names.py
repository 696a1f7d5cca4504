"""The fast DNS-1123 subdomain check accepts exactly the names the grammar's regex does."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from shipyard.store.validation.formats import dns1123_subdomain

LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
GRAMMAR = re.compile(f"{LABEL}(\\.{LABEL})*")


@given(st.text(alphabet="ab09-.A_\n", max_size=12))
def test_fast_check_agrees_with_the_grammar(name: str) -> None:
    assert (not dns1123_subdomain(name)) == (GRAMMAR.fullmatch(name) is not None)


def test_names_with_a_trailing_newline_are_refused() -> None:
    assert dns1123_subdomain("web\n")
    assert not dns1123_subdomain("web-7d9f8.18a7f3c0")
