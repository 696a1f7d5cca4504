"""Shared test configuration."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "shipyard", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=200
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "shipyard"))
