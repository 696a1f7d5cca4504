"""``events.k8s.io/v1`` Event, the structured successor of the core Event.

As ``pkg/apis/events/validation`` for new-style events: ``eventTime``,
``reportingController``, ``reportingInstance``, ``action`` and ``reason`` are required (the
last three at most 128 characters), ``type`` is ``Normal`` or ``Warning``, ``note`` is at most
1 KiB and a series counts at least 2 occurrences. No status, no defaults.
"""

from __future__ import annotations

from shipyard.store.validation.core import OBJECT_REFERENCE
from shipyard.store.validation.formats import dns1123_subdomain
from shipyard.store.validation.meta import TIME, object_meta, object_schema
from shipyard.store.validation.schema import Enum, Int, Obj, Str, Validator, validator

__all__ = ["validate_event"]

_SHORT = Str(max_len=128)

EVENT = object_schema(
    object_meta(dns1123_subdomain, namespaced=True),
    {
        "action": _SHORT,
        "deprecatedCount": Int(),
        "deprecatedFirstTimestamp": TIME,
        "deprecatedLastTimestamp": TIME,
        "deprecatedSource": Obj({"component": Str(), "host": Str()}),
        "eventTime": TIME,
        "note": Str(max_len=1024),
        "reason": _SHORT,
        "regarding": OBJECT_REFERENCE,
        "related": OBJECT_REFERENCE,
        "reportingController": Str(),
        "reportingInstance": _SHORT,
        "series": Obj(
            {"count": Int(2), "lastObservedTime": TIME}, required=("count", "lastObservedTime")
        ),
        "type": Enum("Normal", "Warning"),
    },
    required=("eventTime", "reportingController", "reportingInstance", "action", "reason", "type"),
)

validate_event: Validator = validator(EVENT)
