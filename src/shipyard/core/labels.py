"""Label keys Shipyard knows by name, label syntax checks, and Karpenter's label rules.

Three kinds of fact live here, all data plus tiny pure functions:

* **Syntax** — ``validate_label_key`` / ``validate_label_value`` return the exact messages of
  Kubernetes' ``validation.IsQualifiedName`` and ``IsValidLabelValue`` (several problems are
  joined with ``"; "``), or ``None`` when the text is valid. Lengths are counted in UTF-8 bytes
  as Go does.
* **Well-known keys** — the constants below and ``WELL_KNOWN_LABELS``: the keys Karpenter
  understands and lets pods ask for even when a NodePool does not mention them (core
  Karpenter's set plus the AWS provider's ``karpenter.k8s.aws/*`` instance labels, which our
  simulated cloud serves). ``kubernetes.io/hostname`` is a constant but, as in Karpenter, a
  *restricted* label rather than a well-known one.
* **Karpenter's label policy** — ``normalize_label_key`` maps the deprecated beta aliases to
  their stable keys exactly like Karpenter's ``NormalizedLabels``; ``restricted_label_error``
  reproduces ``IsRestrictedLabel`` (restricted domains ``kubernetes.io``, ``k8s.io``,
  ``karpenter.sh``, ``karpenter.k8s.aws`` matched by suffix, with the exception domains
  ``kops.k8s.io``, ``node.kubernetes.io`` and ``node-restriction.kubernetes.io``), and
  ``is_restricted_node_label`` reproduces ``IsRestrictedNodeLabel`` (labels Karpenter must not
  write onto a node itself because the cloud provider or kubelet owns them).
"""

from __future__ import annotations

import re

__all__ = [
    "ARCH",
    "ARCHITECTURE_AMD64",
    "ARCHITECTURE_ARM64",
    "CAPACITY_RESERVATION_ID",
    "CAPACITY_RESERVATION_TYPE",
    "CAPACITY_TYPE",
    "CAPACITY_TYPE_ON_DEMAND",
    "CAPACITY_TYPE_RESERVED",
    "CAPACITY_TYPE_SPOT",
    "HOSTNAME",
    "INITIALIZED",
    "INSTANCE_ACCELERATOR_COUNT",
    "INSTANCE_ACCELERATOR_MANUFACTURER",
    "INSTANCE_ACCELERATOR_NAME",
    "INSTANCE_CATEGORY",
    "INSTANCE_CPU",
    "INSTANCE_CPU_MANUFACTURER",
    "INSTANCE_CPU_SUSTAINED_CLOCK_SPEED_MHZ",
    "INSTANCE_EBS_BANDWIDTH",
    "INSTANCE_ENCRYPTION_IN_TRANSIT_SUPPORTED",
    "INSTANCE_FAMILY",
    "INSTANCE_GENERATION",
    "INSTANCE_GPU_COUNT",
    "INSTANCE_GPU_MANUFACTURER",
    "INSTANCE_GPU_MEMORY",
    "INSTANCE_GPU_NAME",
    "INSTANCE_HYPERVISOR",
    "INSTANCE_LOCAL_NVME",
    "INSTANCE_MEMORY",
    "INSTANCE_NETWORK_BANDWIDTH",
    "INSTANCE_SIZE",
    "INSTANCE_TYPE",
    "LABEL_DOMAIN_EXCEPTIONS",
    "NODEPOOL",
    "NORMALIZED_LABELS",
    "OS",
    "REGION",
    "REGISTERED",
    "RESTRICTED_LABELS",
    "RESTRICTED_LABEL_DOMAINS",
    "WELL_KNOWN_LABELS",
    "WINDOWS_BUILD",
    "ZONE",
    "ZONE_ID",
    "is_restricted_node_label",
    "label_domain",
    "normalize_label_key",
    "restricted_label_error",
    "validate_label_key",
    "validate_label_value",
]

# --- Kubernetes well-known labels -------------------------------------------------------------
ARCH = "kubernetes.io/arch"
OS = "kubernetes.io/os"
HOSTNAME = "kubernetes.io/hostname"
INSTANCE_TYPE = "node.kubernetes.io/instance-type"
ZONE = "topology.kubernetes.io/zone"
REGION = "topology.kubernetes.io/region"
WINDOWS_BUILD = "node.kubernetes.io/windows-build"

# --- Karpenter (karpenter.sh) -----------------------------------------------------------------
NODEPOOL = "karpenter.sh/nodepool"
CAPACITY_TYPE = "karpenter.sh/capacity-type"
INITIALIZED = "karpenter.sh/initialized"
REGISTERED = "karpenter.sh/registered"

ARCHITECTURE_AMD64 = "amd64"
ARCHITECTURE_ARM64 = "arm64"
CAPACITY_TYPE_SPOT = "spot"
CAPACITY_TYPE_ON_DEMAND = "on-demand"
CAPACITY_TYPE_RESERVED = "reserved"

# --- Karpenter AWS provider (karpenter.k8s.aws) -----------------------------------------------
_AWS = "karpenter.k8s.aws"
CAPACITY_RESERVATION_ID = f"{_AWS}/capacity-reservation-id"
CAPACITY_RESERVATION_TYPE = f"{_AWS}/capacity-reservation-type"
INSTANCE_HYPERVISOR = f"{_AWS}/instance-hypervisor"
INSTANCE_ENCRYPTION_IN_TRANSIT_SUPPORTED = f"{_AWS}/instance-encryption-in-transit-supported"
INSTANCE_CATEGORY = f"{_AWS}/instance-category"
INSTANCE_FAMILY = f"{_AWS}/instance-family"
INSTANCE_GENERATION = f"{_AWS}/instance-generation"
INSTANCE_LOCAL_NVME = f"{_AWS}/instance-local-nvme"
INSTANCE_SIZE = f"{_AWS}/instance-size"
INSTANCE_CPU = f"{_AWS}/instance-cpu"
INSTANCE_CPU_MANUFACTURER = f"{_AWS}/instance-cpu-manufacturer"
INSTANCE_CPU_SUSTAINED_CLOCK_SPEED_MHZ = f"{_AWS}/instance-cpu-sustained-clock-speed-mhz"
INSTANCE_MEMORY = f"{_AWS}/instance-memory"
INSTANCE_EBS_BANDWIDTH = f"{_AWS}/instance-ebs-bandwidth"
INSTANCE_NETWORK_BANDWIDTH = f"{_AWS}/instance-network-bandwidth"
INSTANCE_GPU_NAME = f"{_AWS}/instance-gpu-name"
INSTANCE_GPU_MANUFACTURER = f"{_AWS}/instance-gpu-manufacturer"
INSTANCE_GPU_COUNT = f"{_AWS}/instance-gpu-count"
INSTANCE_GPU_MEMORY = f"{_AWS}/instance-gpu-memory"
INSTANCE_ACCELERATOR_NAME = f"{_AWS}/instance-accelerator-name"
INSTANCE_ACCELERATOR_MANUFACTURER = f"{_AWS}/instance-accelerator-manufacturer"
INSTANCE_ACCELERATOR_COUNT = f"{_AWS}/instance-accelerator-count"
ZONE_ID = "topology.k8s.aws/zone-id"

WELL_KNOWN_LABELS: frozenset[str] = frozenset(
    {
        NODEPOOL,
        ZONE,
        REGION,
        INSTANCE_TYPE,
        ARCH,
        OS,
        CAPACITY_TYPE,
        WINDOWS_BUILD,
        CAPACITY_RESERVATION_ID,
        CAPACITY_RESERVATION_TYPE,
        INSTANCE_HYPERVISOR,
        INSTANCE_ENCRYPTION_IN_TRANSIT_SUPPORTED,
        INSTANCE_CATEGORY,
        INSTANCE_FAMILY,
        INSTANCE_GENERATION,
        INSTANCE_LOCAL_NVME,
        INSTANCE_SIZE,
        INSTANCE_CPU,
        INSTANCE_CPU_MANUFACTURER,
        INSTANCE_CPU_SUSTAINED_CLOCK_SPEED_MHZ,
        INSTANCE_MEMORY,
        INSTANCE_EBS_BANDWIDTH,
        INSTANCE_NETWORK_BANDWIDTH,
        INSTANCE_GPU_NAME,
        INSTANCE_GPU_MANUFACTURER,
        INSTANCE_GPU_COUNT,
        INSTANCE_GPU_MEMORY,
        INSTANCE_ACCELERATOR_NAME,
        INSTANCE_ACCELERATOR_MANUFACTURER,
        INSTANCE_ACCELERATOR_COUNT,
        ZONE_ID,
    }
)

# Deprecated aliases, translated for pods and NodePools alike (Karpenter's NormalizedLabels).
NORMALIZED_LABELS: dict[str, str] = {
    "failure-domain.beta.kubernetes.io/zone": ZONE,
    "failure-domain.beta.kubernetes.io/region": REGION,
    "beta.kubernetes.io/arch": ARCH,
    "beta.kubernetes.io/os": OS,
    "beta.kubernetes.io/instance-type": INSTANCE_TYPE,
}

# Prohibited by the kubelet or reserved by Karpenter; matched as suffixes of the key's domain.
RESTRICTED_LABEL_DOMAINS: frozenset[str] = frozenset(
    {"kubernetes.io", "k8s.io", "karpenter.sh", _AWS}
)
# Sub-domains of the restricted ones that users may still set.
LABEL_DOMAIN_EXCEPTIONS: frozenset[str] = frozenset(
    {"kops.k8s.io", "node.kubernetes.io", "node-restriction.kubernetes.io"}
)
# Single keys that would interfere with provisioning.
RESTRICTED_LABELS: frozenset[str] = frozenset({HOSTNAME})


def normalize_label_key(key: str) -> str:
    """The stable key for a deprecated alias (``beta.kubernetes.io/os`` -> ``kubernetes.io/os``)."""
    return NORMALIZED_LABELS.get(key, key)


def label_domain(key: str) -> str:
    """The prefix before ``/`` (``""`` for an unprefixed key)."""
    prefix, sep, _ = key.partition("/")
    return prefix if sep else ""


def is_restricted_node_label(key: str) -> bool:
    """True when Karpenter must not write this label onto a node itself (IsRestrictedNodeLabel).

    Well-known labels count as restricted here: the cloud provider sets them from the launched
    instance, so Karpenter's template labels leave them out.
    """
    if key in WELL_KNOWN_LABELS:
        return True
    domain = label_domain(key)
    if any(domain.endswith(exception) for exception in LABEL_DOMAIN_EXCEPTIONS):
        return False
    if any(domain.endswith(restricted) for restricted in RESTRICTED_LABEL_DOMAINS):
        return True
    return key in RESTRICTED_LABELS


def restricted_label_error(key: str) -> str | None:
    """Karpenter's IsRestrictedLabel: why a NodePool may not use ``key``, or ``None``.

    The key is normalised first, so ``beta.kubernetes.io/arch`` is accepted like
    ``kubernetes.io/arch``.
    """
    key = normalize_label_key(key)
    if key in WELL_KNOWN_LABELS or not is_restricted_node_label(key):
        return None
    return (
        f"label {key} is restricted; specify a well known label: {_go_list(WELL_KNOWN_LABELS)}, "
        "or a custom label that does not use a restricted domain: "
        f"{_go_list(RESTRICTED_LABEL_DOMAINS)}"
    )


def _go_list(items: frozenset[str]) -> str:
    return "[" + " ".join(sorted(items)) + "]"


# --- Syntax (k8s.io/apimachinery/pkg/util/validation) -----------------------------------------
_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_NAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
    "an alphanumeric character"
)
_LABEL_VALUE_FMT = f"({_QUALIFIED_NAME_FMT})?"
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
    "or '.', and must start and end with an alphanumeric character"
)
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character"
)
_QUALIFIED_NAME_RE = re.compile(_QUALIFIED_NAME_FMT)
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE_FMT)
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)
_QUALIFIED_NAME_MAX = 63
_LABEL_VALUE_MAX = 63
_DNS1123_SUBDOMAIN_MAX = 253


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    # Same text as Kubernetes' validation.RegexError, double spaces included.
    shown = " or ".join(f"'{example}', " for example in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def _max_len_error(limit: int) -> str:
    return f"must be no more than {limit} characters"


def _byte_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _dns1123_subdomain_errors(value: str) -> list[str]:
    errs = []
    if _byte_len(value) > _DNS1123_SUBDOMAIN_MAX:
        errs.append(_max_len_error(_DNS1123_SUBDOMAIN_MAX))
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errs.append(_regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def _qualified_name_errors(value: str) -> list[str]:
    parts = value.split("/")
    if len(parts) > 2:
        return [
            "a qualified name "
            + _regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    errs: list[str] = []
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + msg for msg in _dns1123_subdomain_errors(prefix))
    if not name:
        errs.append("name part must be non-empty")
    elif _byte_len(name) > _QUALIFIED_NAME_MAX:
        errs.append("name part " + _max_len_error(_QUALIFIED_NAME_MAX))
    if not _QUALIFIED_NAME_RE.fullmatch(name):
        errs.append(
            "name part "
            + _regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
        )
    return errs


def validate_label_key(key: str) -> str | None:
    """Kubernetes' message for an invalid label key (a qualified name), or ``None``."""
    errs = _qualified_name_errors(key)
    return "; ".join(errs) if errs else None


def validate_label_value(value: str) -> str | None:
    """Kubernetes' message for an invalid label value, or ``None`` (``""`` is valid)."""
    errs = []
    if _byte_len(value) > _LABEL_VALUE_MAX:
        errs.append(_max_len_error(_LABEL_VALUE_MAX))
    if not _LABEL_VALUE_RE.fullmatch(value):
        errs.append(
            _regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345")
        )
    return "; ".join(errs) if errs else None
