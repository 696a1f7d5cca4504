"""Shared test configuration."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# Every Store in the tests fingerprints what it stores and fails when a reader of a shared
# object (copy=False reads, handoff writes, watch events) changed it in place.
os.environ.setdefault("SHIPYARD_VERIFY_SHARED", "1")

settings.register_profile(
    "shipyard", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=200
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "shipyard"))
