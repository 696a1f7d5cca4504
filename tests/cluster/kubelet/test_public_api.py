"""The package's public names: re-exported, importable, sorted."""

from __future__ import annotations

from shipyard.cluster import kubelet


def test_every_public_name_is_exported() -> None:
    assert kubelet.__all__ == sorted(kubelet.__all__)
    for name in kubelet.__all__:
        assert getattr(kubelet, name) is not None
    assert {"KubeletManager", "NodeLifecycleController", "SimulatedRuntime"} <= set(kubelet.__all__)
