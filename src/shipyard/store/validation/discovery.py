"""``discovery.k8s.io/v1`` EndpointSlice.

As ``pkg/apis/discovery/validation``: ``addressType`` is ``IPv4``, ``IPv6`` or ``FQDN`` and
immutable; every endpoint has 1-100 addresses of that type; at most 1000 endpoints and 100
ports; port names are DNS labels (or empty) and numbers 1-65535. Ports default to ``TCP``.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any

from shipyard.store.validation.core import OBJECT_REFERENCE
from shipyard.store.validation.formats import dns1123_label, dns1123_subdomain
from shipyard.store.validation.meta import object_meta, object_schema
from shipyard.store.validation.pod_defaults import set_default
from shipyard.store.validation.schema import (
    Bool,
    Enum,
    Errors,
    Int,
    ListOf,
    MapOf,
    Obj,
    Str,
    Validator,
    get_list,
    get_str,
    immutable,
    invalid,
    validator,
)

__all__ = ["default_endpoint_slice", "validate_endpoint_slice"]


@lru_cache(maxsize=16384)
def _address_problem(address_type: str, address: str) -> str | None:
    if address_type == "FQDN":
        problems = dns1123_subdomain(address)
        return problems[0] if problems else None
    version = 4 if address_type == "IPv4" else 6
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return f"must be a valid {address_type} address"
    return None if parsed.version == version else f"must be a valid {address_type} address"


def _addresses_rule(slice_obj: dict[str, Any], path: str, errs: Errors) -> None:
    address_type = get_str(slice_obj, "addressType")
    if address_type not in ("IPv4", "IPv6", "FQDN"):
        return
    for i, endpoint in enumerate(get_list(slice_obj, "endpoints")):
        addresses = get_list(endpoint, "addresses") if isinstance(endpoint, dict) else []
        for j, address in enumerate(addresses):
            if isinstance(address, str):
                problem = _address_problem(address_type, address)
                if problem:
                    errs.append(invalid(f"endpoints[{i}].addresses[{j}]", address, problem))


ENDPOINT = Obj(
    {
        "addresses": ListOf(Str(), max_items=100),
        "conditions": Obj({"ready": Bool(), "serving": Bool(), "terminating": Bool()}),
        "deprecatedTopology": MapOf(Str()),
        "hints": Obj(
            {
                "forNodes": ListOf(Obj({"name": Str()}, required=("name",))),
                "forZones": ListOf(Obj({"name": Str()}, required=("name",))),
            }
        ),
        "hostname": Str(dns1123_label),
        "nodeName": Str(dns1123_subdomain),
        "targetRef": OBJECT_REFERENCE,
        "zone": Str(),
    },
    required=("addresses",),
)
ENDPOINT_SLICE = object_schema(
    object_meta(dns1123_subdomain, namespaced=True),
    {
        "addressType": Enum("IPv4", "IPv6", "FQDN"),
        "endpoints": ListOf(ENDPOINT, max_items=1000),
        "ports": ListOf(
            Obj(
                {
                    "appProtocol": Str(),
                    "name": Str(dns1123_label),
                    "port": Int(1, 65535),
                    "protocol": Enum("SCTP", "TCP", "UDP"),
                }
            ),
            max_items=100,
        ),
    },
    required=("addressType",),
    rules=(_addresses_rule,),
)


def default_endpoint_slice(obj: dict[str, Any]) -> None:
    for port in get_list(obj, "ports"):
        if isinstance(port, dict):
            set_default(port, "protocol", "TCP")


validate_endpoint_slice: Validator = validator(ENDPOINT_SLICE, immutable("addressType"))
