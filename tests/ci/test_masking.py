"""Secret masking: whole values, each line of multi-line values, streams written in chunks."""

from __future__ import annotations

import base64
import re
import threading
import types

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.ci import masking
from shipyard.ci.masking import MASK, SecretMasker, StreamMasker


def test_masks_every_occurrence() -> None:
    masker = SecretMasker(["hunter2"])
    assert masker.mask("a hunter2 b hunter2") == "a *** b ***"


def test_leaves_text_without_secrets_alone() -> None:
    assert SecretMasker(["hunter2"]).mask("hunter") == "hunter"
    assert SecretMasker().mask("anything") == "anything"


def test_multiline_secret_masks_each_line() -> None:
    masker = SecretMasker(["-----BEGIN KEY-----\nabcdef\r\nghijkl\n-----END KEY-----"])
    assert masker.mask("ghijkl") == MASK
    assert masker.mask("-----BEGIN KEY-----") == MASK
    assert masker.mask("x abcdef\n ghijkl") == "x ***\n ***"


def test_refuses_empty_and_single_character_values() -> None:
    masker = SecretMasker()
    assert masker.add("") is False
    assert masker.add("x") is False
    assert masker.mask("x y") == "x y"
    # Lines of one character in a multi-line value are skipped; the rest still count.
    assert masker.add("a\nlonger") is True
    assert masker.mask("a longer") == "a ***"


def test_overlapping_and_adjacent_secrets_merge_into_one_mask() -> None:
    masker = SecretMasker(["abcd", "cdef"])
    assert masker.mask("xabcdefx") == "x***x"
    assert masker.mask("abcdabcd") == "***"


def test_value_containing_another_value_leaves_nothing_visible() -> None:
    masker = SecretMasker(["pass", "password123"])
    assert masker.mask("password123!") == "***!"


def test_encoded_forms_are_masked() -> None:
    secret = 'p@ss "w/rd"'
    masker = SecretMasker([secret])
    assert masker.mask('{"pw": "p@ss \\"w/rd\\""}') == '{"pw": "***"}'
    assert masker.mask("pw=p%40ss%20%22w%2Frd%22") == "pw=***"
    encoded = base64.b64encode(secret.encode()).decode()
    assert MASK in masker.mask(encoded)
    assert secret not in masker.mask(encoded)


def test_stream_masks_secret_split_across_writes() -> None:
    stream = StreamMasker(SecretMasker(["token-abc"]))
    assert stream.write("auth: tok") == ""
    assert stream.write("en-a") == ""
    assert stream.write("bc ok\nnext") == "auth: *** ok\n"
    assert stream.flush() == "next"
    assert stream.flush() == ""


def test_stream_waits_on_trailing_carriage_return() -> None:
    stream = StreamMasker(SecretMasker(["secret"]))
    assert stream.write("sec") == ""
    assert stream.write("ret\r") == ""
    assert stream.write("\nmore") == "***\r\n"
    assert stream.flush() == "more"


def test_stream_flush_masks_unfinished_line() -> None:
    stream = StreamMasker(SecretMasker(["secret"]))
    stream.write("the secret")
    assert stream.flush() == "the ***"


# Secrets without "*": the mask itself is asterisks, so a secret holding one can appear
# again across the mask's edge ("0*" masked in "00*0" gives "0***0") without a character of
# it leaking; test_a_secret_with_an_asterisk_is_still_masked covers that case.
_SECRET = st.text(
    st.characters(codec="ascii", exclude_characters="\r\n*"), min_size=2, max_size=12
).filter(lambda s: len(s.strip()) >= 2)


def test_a_secret_with_an_asterisk_is_still_masked() -> None:
    masker = SecretMasker(["0*"])
    assert masker.mask("00*0") == "0***0"
    stream = StreamMasker(masker)
    assert stream.write("00") + stream.write("*0\n") + stream.flush() == "0***0\n"


@settings(max_examples=80, deadline=None)
@given(_SECRET, st.text(max_size=30), st.text(max_size=30))
def test_secret_never_survives_masking(secret: str, before: str, after: str) -> None:
    masked = SecretMasker([secret]).mask(before + secret + after)
    assert secret not in masked


@settings(max_examples=60, deadline=None)
@given(_SECRET, st.text(st.characters(exclude_characters="\r\n"), max_size=40), st.data())
def test_stream_output_equals_whole_text_masking(
    secret: str, text: str, data: st.DataObject
) -> None:
    masker = SecretMasker([secret])
    line = text[: len(text) // 2] + secret + text[len(text) // 2 :] + "\n"
    cuts = sorted(data.draw(st.lists(st.integers(0, len(line)), max_size=5)))
    stream = StreamMasker(masker)
    pieces = [line[a:b] for a, b in zip([0, *cuts], [*cuts, len(line)], strict=True)]
    out = "".join(stream.write(piece) for piece in pieces) + stream.flush()
    assert out == masker.mask(line)
    assert secret not in out


def test_multiline_lines_are_trimmed() -> None:
    masker = SecretMasker(["  indented-line  \n\tother-line"])
    assert masker.mask("see indented-line and other-line") == "see *** and ***"


def test_whitespace_only_value_is_refused() -> None:
    assert SecretMasker().add("   \n  ") is False


def test_secret_across_line_break_masks_each_side() -> None:
    masker = SecretMasker(["top-half\nbottom-half"])
    assert masker.mask("top-half\nbottom-half") == MASK
    assert masker.mask("x top-half y") == "x *** y"


def test_long_line_with_many_occurrences() -> None:
    masker = SecretMasker(["ab", "abc"])
    assert masker.mask("abc-" * 1000) == "***-" * 1000


def test_base64_form_only_for_longer_values() -> None:
    assert SecretMasker(["abc"]).mask(base64.b64encode(b"abc").decode()) == "YWJj"


# -- shared between concurrent jobs --------------------------------------------------------------


def test_add_during_a_pattern_build_is_not_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    """One job's ``add-mask`` lands while another job's ``mask`` is building the pattern: the
    pattern built from the older set must not be cached over the newer set."""
    masker = SecretMasker(["first-secret"])
    interleaved: list[str] = []

    def escape_then_add(value: str) -> str:
        if not interleaved:
            interleaved.append(value)
            masker.add("late-secret")  # what another thread does at this instant
        return re.escape(value)

    proxy = types.SimpleNamespace(escape=escape_then_add, compile=re.compile, DOTALL=re.DOTALL)
    monkeypatch.setattr(masking, "re", proxy)
    assert masker.mask("first-secret") == MASK
    assert interleaved
    assert masker.mask("late-secret and first-secret") == f"{MASK} and {MASK}"


def test_concurrent_adds_and_masks_lose_no_secret() -> None:
    masker = SecretMasker()
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def job(number: int) -> None:
        try:
            start.wait()
            for i in range(30):
                secret = f"secret-{number}-{i:03d}"
                masker.add(secret)
                if masker.mask(f"x {secret} y") != f"x {MASK} y":
                    raise AssertionError(f"{secret} leaked right after add")
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=job, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    every = " ".join(f"secret-{n}-{i:03d}" for n in range(4) for i in range(30))
    assert set(masker.mask(every).split()) == {MASK}
