"""The store with the built-in Kubernetes kinds: real defaulting and validation go through it."""

from __future__ import annotations

import pytest

from shipyard.core.clock import VirtualClock
from shipyard.core.errors import InvalidError
from shipyard.store.backends import MemoryBackend
from shipyard.store.kinds import builtin_scheme
from shipyard.store.store import Store
from tests.store.store_helpers import make_namespace, make_pod, make_replicaset, owned


@pytest.fixture
def store() -> Store:
    store = Store(MemoryBackend(), builtin_scheme(), VirtualClock())
    store.create(make_namespace("default"))
    return store


def test_a_pod_is_defaulted_like_the_api_server_does(store: Store) -> None:
    pod = store.create(make_pod("web-1"))

    assert pod["spec"]["restartPolicy"] == "Always"
    assert pod["status"]["phase"] == "Pending"
    assert pod["metadata"]["generation"] == 1


def test_an_invalid_pod_is_rejected_with_field_paths(store: Store) -> None:
    bad = make_pod("web-1", spec={"containers": [{"name": "app"}]})

    with pytest.raises(InvalidError) as err:
        store.create(bad)

    assert any(c.path.startswith("spec.containers[0]") for c in err.value.causes)
    assert store.list("v1", "Pod").items == []


def test_cascading_delete_with_real_kinds(store: Store) -> None:
    rs = store.create(
        make_replicaset(
            "web-abc",
            spec={
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "app", "image": "web:1"}]},
                }
            },
        )
    )
    store.create(owned(make_pod("web-abc-1"), rs, block=True))

    store.delete("apps/v1", "ReplicaSet", "web-abc", propagation_policy="Foreground")

    assert store.list("v1", "Pod").items == []
    assert store.list("apps/v1", "ReplicaSet").items == []
