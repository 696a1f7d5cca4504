"""String formats Kubernetes validates, with its own messages (``k8s.io/apimachinery`` wording).

Each check takes a string and returns the problems found, empty when it is valid, so it plugs
into :class:`~shipyard.store.validation.schema.Str` and ``MapOf(key_syntax=...)``. Label keys
and values come from :mod:`shipyard.core.selectors` (one definition for the whole code base),
cached here because the same few keys (``app``, ``kubernetes.io/hostname``) repeat on every
object.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from functools import lru_cache

from shipyard.core.selectors import validate_label_key, validate_label_value

__all__ = [
    "config_map_key",
    "dns1035_label",
    "dns1123_label",
    "dns1123_subdomain",
    "env_var_name",
    "ip_address",
    "label_value",
    "max_len_message",
    "over_100_percent",
    "percent",
    "port_name",
    "qualified_name",
    "regex_message",
    "rfc3339_time",
]

_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN_FMT = _LABEL_FMT + r"(\." + _LABEL_FMT + ")*"
_DNS1035_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_PERCENT_FMT = "[0-9]+%"
_ENV_FMT = "[-._a-zA-Z][-._a-zA-Z0-9]*"
_CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"

# ``\Z``, not ``$``: Go's ``$`` is the end of the text, Python's also matches before a final
# newline (which no Kubernetes name may end with).
_LABEL_RE = re.compile(f"^{_LABEL_FMT}\\Z")
_SUBDOMAIN_RE = re.compile(f"^{_SUBDOMAIN_FMT}\\Z")
_DNS1035_RE = re.compile(f"^{_DNS1035_FMT}\\Z")
_PERCENT_RE = re.compile(f"^{_PERCENT_FMT}\\Z")
_ENV_RE = re.compile(f"^{_ENV_FMT}\\Z")
_CONFIG_KEY_RE = re.compile(f"^{_CONFIG_KEY_FMT}\\Z")
_PORT_NAME_RE = re.compile("^[-a-z0-9]+\\Z")
# The subdomain grammar, checked as a character class plus where dots and dashes may not be:
# the same language as _SUBDOMAIN_RE, several times faster on long names.
_SUBDOMAIN_CHARS_RE = re.compile("[a-z0-9][-a-z0-9.]*")
_HAS_LETTER_RE = re.compile("[a-z]")
_RFC3339_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")

_NONE: tuple[str, ...] = ()


def max_len_message(limit: int) -> str:
    return f"must be no more than {limit} characters"


def regex_message(message: str, fmt: str, *examples: str) -> str:
    """Kubernetes' ``RegexError``: the rule, examples, and the regular expression used."""
    shown = ",  or ".join(f"'{e}'" for e in examples)
    return f"{message} (e.g. {shown}, regex used for validation is '{fmt}')"


_LABEL_MSG = regex_message(
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character",
    _LABEL_FMT,
    "my-name",
    "123-abc",
)
_SUBDOMAIN_MSG = regex_message(
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character",
    _SUBDOMAIN_FMT,
    "example.com",
)
_DNS1035_MSG = regex_message(
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
    "an alphabetic character, and end with an alphanumeric character",
    _DNS1035_FMT,
    "my-name",
    "abc-123",
)
_PERCENT_MSG = regex_message(
    "a valid percent string must be a numeric string followed by an ending '%'",
    _PERCENT_FMT,
    "1%",
    "93%",
)
_ENV_MSG = regex_message(
    "a valid environment variable name must consist of alphabetic characters, digits, '_', "
    "'-', or '.', and must not start with a digit",
    _ENV_FMT,
    "my.env-name",
    "MY_ENV.NAME",
    "MyEnvName1",
)
_CONFIG_KEY_MSG = regex_message(
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
    _CONFIG_KEY_FMT,
    "key.name",
    "KEY_NAME",
    "key-name",
)


def dns1123_label(value: str) -> Sequence[str]:
    """``[a-z0-9]([-a-z0-9]*[a-z0-9])?``, at most 63 characters (namespaces, containers)."""
    if len(value) <= 63 and _LABEL_RE.match(value):
        return _NONE
    problems = [max_len_message(63)] if len(value) > 63 else []
    if not _LABEL_RE.match(value):
        dotted = _SUBDOMAIN_RE.match(value) is not None
        problems.append("must not contain dots" if dotted else _LABEL_MSG)
    return problems


def dns1123_subdomain(value: str) -> Sequence[str]:
    """Dot-separated DNS labels, at most 253 characters (most object names)."""
    if (
        len(value) <= 253
        and _SUBDOMAIN_CHARS_RE.fullmatch(value)
        and value[-1] not in "-."
        and ".." not in value  # the three ways a label can be empty or edged by a dash
        and ".-" not in value
        and "-." not in value
    ):
        return _NONE
    problems = [max_len_message(253)] if len(value) > 253 else []
    if not _SUBDOMAIN_RE.match(value):
        problems.append(_SUBDOMAIN_MSG)
    return tuple(problems)


def dns1035_label(value: str) -> Sequence[str]:
    """Like a DNS-1123 label but starting with a letter (Service names)."""
    if len(value) <= 63 and _DNS1035_RE.match(value):
        return _NONE
    problems = [max_len_message(63)] if len(value) > 63 else []
    if not _DNS1035_RE.match(value):
        problems.append(_DNS1035_MSG)
    return problems


def port_name(value: str) -> Sequence[str]:
    """An IANA service name: <= 15 of ``[-a-z0-9]``, a letter, no ``--``, no edge hyphen."""
    problems = []
    if len(value) > 15:
        problems.append(max_len_message(15))
    if not _PORT_NAME_RE.match(value):
        problems.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _HAS_LETTER_RE.search(value):
        problems.append("must contain at least one letter (a-z)")
    if "--" in value:
        problems.append("must not contain consecutive hyphens")
    if value.startswith("-") or value.endswith("-"):
        problems.append("must not begin or end with a hyphen")
    return problems


def percent(value: str) -> Sequence[str]:
    return _NONE if _PERCENT_RE.match(value) else (_PERCENT_MSG,)


def env_var_name(value: str) -> Sequence[str]:
    return _NONE if _ENV_RE.match(value) else (_ENV_MSG,)


def config_map_key(value: str) -> Sequence[str]:
    problems = [max_len_message(253)] if len(value) > 253 else []
    if not _CONFIG_KEY_RE.match(value):
        problems.append(_CONFIG_KEY_MSG)
    elif value in (".", ".."):
        problems.append(f"must not be '{value}'")
    elif value.startswith(".."):
        problems.append("must not start with '..'")
    return problems


@lru_cache(maxsize=4096)
def qualified_name(value: str) -> Sequence[str]:
    """A label key / qualified name: ``[prefix/]name`` (cached: keys repeat everywhere)."""
    message = validate_label_key(value)
    return (message,) if message else _NONE


@lru_cache(maxsize=4096)
def label_value(value: str) -> Sequence[str]:
    message = validate_label_value(value)
    return (message,) if message else _NONE


@lru_cache(maxsize=16384)
def ip_address(value: str) -> Sequence[str]:
    """An IPv4 or IPv6 address; remembered (pod and host IPs are written again and again)."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return ("must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",)
    return _NONE


@lru_cache(maxsize=4096)
def rfc3339_time(value: str) -> Sequence[str]:
    """An RFC 3339 time; remembered (many writes stamp the same second)."""
    if _RFC3339_RE.match(value):
        return _NONE
    return ("must be an RFC 3339 time, e.g. '2026-01-01T00:00:00Z'",)


def over_100_percent(value: object) -> bool:
    """True for a percentage string above 100% (``maxUnavailable``, ``minAvailable``)."""
    return (
        isinstance(value, str)
        and value.endswith("%")
        and value[:-1].isdigit()
        and int(value[:-1]) > 100
    )
