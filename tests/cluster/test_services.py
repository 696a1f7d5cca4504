"""Services: ClusterIP allocation, Endpoints and EndpointSlices following pods."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.cluster.client import EmbeddedClient
from shipyard.cluster.runtime import Manager
from shipyard.cluster.service_endpoints import (
    Interned,
    endpoint_subsets,
    find_port,
    slice_groups,
)
from shipyard.cluster.services import ClusterIPAllocator, EndpointsController
from shipyard.core.clock import VirtualClock
from tests.cluster.fixtures import make_pod, make_service, new_client

Obj = dict[str, Any]
Env = tuple[VirtualClock, EmbeddedClient]
WEB_PORTS = [{"name": "http", "containerPort": 8080}, {"name": "metrics", "containerPort": 9090}]


@pytest.fixture
def env() -> Env:
    return new_client()


def start_endpoints(env: Env, **options: Any) -> EndpointsController:
    clock, client = env
    controller = EndpointsController(client, **options)
    manager = Manager(client, clock)
    manager.add(controller)
    manager.start()
    clock.run_until_idle()
    return controller


def add_pod(
    client: EmbeddedClient,
    name: str,
    ip: str | None,
    *,
    ready: bool = True,
    labels: dict[str, str] | None = None,
    node: str = "node-1",
    ports: list[Obj] | None = None,
    **overrides: Any,
) -> Obj:
    """A bound pod with a podIP (unless None) and a Ready condition, as a kubelet reports."""
    container = {"name": "main", "image": "example/web:1", "ports": ports or WEB_PORTS}
    client.create(
        make_pod(
            name, labels=labels, spec={"nodeName": node, "containers": [container]}, **overrides
        )
    )
    return set_pod_status(client, name, ip, ready=ready)


def set_pod_status(client: EmbeddedClient, name: str, ip: str | None, *, ready: bool) -> Obj:
    status: Obj = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
    }
    if ip:
        status.update(podIP=ip, podIPs=[{"ip": ip}])
    return client.patch(
        "v1", "Pod", name, {"status": status}, namespace="default", subresource="status"
    )


def endpoints(client: EmbeddedClient, name: str = "web") -> Obj:
    return client.get("v1", "Endpoints", name, namespace="default")


def slices(client: EmbeddedClient, service: str = "web") -> list[Obj]:
    return client.list(
        "discovery.k8s.io/v1",
        "EndpointSlice",
        namespace="default",
        label_selector=f"kubernetes.io/service-name={service}",
    ).items


def slice_conditions(client: EmbeddedClient, service: str = "web") -> dict[str, Obj]:
    return {
        e["targetRef"]["name"]: e["conditions"]
        for s in slices(client, service)
        for e in s["endpoints"]
    }


def ips(subset_addresses: list[Obj] | None) -> list[str]:
    return [a["ip"] for a in subset_addresses or ()]


# --- ClusterIP --------------------------------------------------------------------------------


def test_services_get_cluster_ips_from_the_loopback_range_and_headless_stays_none(
    env: Env,
) -> None:
    clock, client = env
    start_endpoints(env)
    client.create(make_service("web"))
    client.create(make_service("api"))
    client.create(make_service("db", spec={"clusterIP": "None"}))
    clock.run_until_idle()
    web = client.get("v1", "Service", "web", namespace="default")["spec"]
    assert web["clusterIP"] == "127.96.0.1"
    assert web["clusterIPs"] == ["127.96.0.1"]
    assert (web["ipFamilies"], web["ipFamilyPolicy"]) == (["IPv4"], "SingleStack")
    assert client.get("v1", "Service", "api", namespace="default")["spec"]["clusterIP"] == (
        "127.96.0.2"
    )
    assert client.get("v1", "Service", "db", namespace="default")["spec"]["clusterIP"] == "None"


def test_allocator_skips_addresses_in_use_and_reuses_released_ones() -> None:
    allocator = ClusterIPAllocator("127.96.0.0/30")  # two usable addresses
    allocator.reserve("127.96.0.1")
    assert allocator.allocate() == "127.96.0.2"
    with pytest.raises(Exception, match="range is full"):
        allocator.allocate()
    allocator.release("127.96.0.1")
    assert allocator.allocate() == "127.96.0.1"


# --- Endpoints ----------------------------------------------------------------------------------


def test_endpoints_track_readiness_and_resolve_named_target_ports(env: Env) -> None:
    clock, client = env
    start_endpoints(env)
    client.create(make_service("web", target_port="http"))
    add_pod(client, "web-1", "127.1.0.1")
    add_pod(client, "web-2", "127.1.0.2", ready=False)
    clock.run_until_idle()

    ep = endpoints(client)
    assert ep["metadata"]["labels"]["endpoints.kubernetes.io/managed-by"] == "endpoint-controller"
    [subset] = ep["subsets"]
    assert ips(subset["addresses"]) == ["127.1.0.1"]
    assert ips(subset["notReadyAddresses"]) == ["127.1.0.2"]
    assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert subset["addresses"][0]["targetRef"]["name"] == "web-1"
    assert subset["addresses"][0]["nodeName"] == "node-1"

    set_pod_status(client, "web-2", "127.1.0.2", ready=True)
    clock.run_until_idle()
    assert ips(endpoints(client)["subsets"][0]["addresses"]) == ["127.1.0.1", "127.1.0.2"]


def test_pods_whose_named_port_differs_are_packed_into_separate_subsets(env: Env) -> None:
    clock, client = env
    start_endpoints(env)
    client.create(make_service("web", target_port="http"))
    add_pod(client, "web-1", "127.1.0.1")
    add_pod(client, "web-2", "127.1.0.2", ports=[{"name": "http", "containerPort": 8081}])
    add_pod(client, "web-3", "127.1.0.3", ports=[{"name": "other", "containerPort": 7000}])
    clock.run_until_idle()
    subsets = endpoints(client)["subsets"]
    assert [(ips(s["addresses"]), s["ports"][0]["port"]) for s in subsets] == [
        (["127.1.0.1"], 8080),
        (["127.1.0.2"], 8081),
    ]


def test_pods_without_ip_terminal_or_unselected_are_left_out(env: Env) -> None:
    clock, client = env
    start_endpoints(env)
    client.create(make_service("web"))
    add_pod(client, "web-1", "127.1.0.1")
    add_pod(client, "web-2", None)
    add_pod(client, "other", "127.1.0.9", labels={"app": "other"})
    add_pod(client, "done", "127.1.0.8")
    client.patch(
        "v1",
        "Pod",
        "done",
        {"status": {"phase": "Succeeded"}},
        namespace="default",
        subresource="status",
    )
    clock.run_until_idle()
    assert ips(endpoints(client)["subsets"][0]["addresses"]) == ["127.1.0.1"]
    assert list(slice_conditions(client)) == ["web-1"]


def test_publish_not_ready_addresses_lists_unready_pods_as_ready(env: Env) -> None:
    clock, client = env
    start_endpoints(env)
    client.create(make_service("web", spec={"publishNotReadyAddresses": True}))
    add_pod(client, "web-1", "127.1.0.1", ready=False)
    clock.run_until_idle()
    [subset] = endpoints(client)["subsets"]
    assert ips(subset["addresses"]) == ["127.1.0.1"]
    assert "notReadyAddresses" not in subset
    assert slice_conditions(client)["web-1"] == {
        "ready": True,
        "serving": True,
        "terminating": False,
    }


def test_endpoints_are_written_only_when_they_change(env: Env) -> None:
    clock, client = env
    start_endpoints(env)
    client.create(make_service("web"))
    add_pod(client, "web-1", "127.1.0.1")
    clock.run_until_idle()
    before = endpoints(client)["metadata"]["resourceVersion"]
    slice_before = slices(client)[0]["metadata"]["resourceVersion"]
    client.patch(
        "v1", "Pod", "web-1", {"metadata": {"annotations": {"x": "1"}}}, namespace="default"
    )
    clock.run_until_idle()
    assert endpoints(client)["metadata"]["resourceVersion"] == before
    assert slices(client)[0]["metadata"]["resourceVersion"] == slice_before


def test_a_pod_that_changes_labels_leaves_the_endpoints(env: Env) -> None:
    clock, client = env
    start_endpoints(env)
    client.create(make_service("web"))
    add_pod(client, "web-1", "127.1.0.1")
    add_pod(client, "web-2", "127.1.0.2")
    clock.run_until_idle()
    client.patch(
        "v1", "Pod", "web-2", {"metadata": {"labels": {"app": "debug"}}}, namespace="default"
    )
    clock.run_until_idle()
    assert ips(endpoints(client)["subsets"][0]["addresses"]) == ["127.1.0.1"]


def test_deleting_the_service_removes_endpoints_and_slices(env: Env) -> None:
    clock, client = env
    start_endpoints(env)
    client.create(make_service("web"))
    add_pod(client, "web-1", "127.1.0.1")
    clock.run_until_idle()
    client.delete("v1", "Service", "web", namespace="default")
    clock.run_until_idle()
    assert client.list("v1", "Endpoints", namespace="default").items == []
    assert slices(client) == []


def test_services_without_selector_are_left_to_the_user(env: Env) -> None:
    clock, client = env
    start_endpoints(env)
    client.create(make_service("external", selector={}))
    clock.run_until_idle()
    assert client.list("v1", "Endpoints", namespace="default").items == []
    assert slices(client, "external") == []


# --- EndpointSlices -----------------------------------------------------------------------------


def test_slice_is_owned_labelled_and_lists_ports_and_conditions(env: Env) -> None:
    clock, client = env
    start_endpoints(env)
    service = client.create(make_service("web", target_port="http"))
    add_pod(client, "web-1", "127.1.0.1")
    add_pod(client, "web-2", "127.1.0.2", ready=False)
    clock.run_until_idle()
    [endpoint_slice] = slices(client)
    md = endpoint_slice["metadata"]
    assert md["name"].startswith("web-")
    assert md["labels"]["endpointslice.kubernetes.io/managed-by"] == (
        "endpointslice-controller.k8s.io"
    )
    assert md["ownerReferences"][0]["uid"] == service["metadata"]["uid"]
    assert endpoint_slice["addressType"] == "IPv4"
    assert endpoint_slice["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert slice_conditions(client) == {
        "web-1": {"ready": True, "serving": True, "terminating": False},
        "web-2": {"ready": False, "serving": False, "terminating": False},
    }


def test_terminating_pods_stay_in_slices_as_serving_but_leave_endpoints(env: Env) -> None:
    clock, client = env
    start_endpoints(env)
    client.create(make_service("web"))
    add_pod(client, "web-1", "127.1.0.1")
    add_pod(client, "web-2", "127.1.0.2")
    clock.run_until_idle()
    client.delete("v1", "Pod", "web-2", namespace="default")  # graceful: still running
    clock.run_until_idle()
    assert client.get("v1", "Pod", "web-2", namespace="default")["metadata"]["deletionTimestamp"]
    assert ips(endpoints(client)["subsets"][0]["addresses"]) == ["127.1.0.1"]
    assert slice_conditions(client)["web-2"] == {
        "ready": False,
        "serving": True,
        "terminating": True,
    }


def test_empty_service_keeps_a_placeholder_slice(env: Env) -> None:
    clock, client = env
    start_endpoints(env)
    client.create(make_service("web"))
    clock.run_until_idle()
    [placeholder] = slices(client)
    assert placeholder["endpoints"] == []
    assert "ports" not in placeholder
    assert "subsets" not in endpoints(client)


def test_slices_are_split_at_the_endpoint_limit(env: Env) -> None:
    clock, client = env
    start_endpoints(env, max_endpoints_per_slice=2)
    client.create(make_service("web"))
    for i in range(1, 6):
        add_pod(client, f"web-{i}", f"127.1.0.{i}")
    clock.run_until_idle()
    assert sorted(len(s["endpoints"]) for s in slices(client)) == [1, 2, 2]
    for i in range(3, 6):
        client.delete("v1", "Pod", f"web-{i}", namespace="default", grace_period_seconds=0)
    clock.run_until_idle()
    assert [len(s["endpoints"]) for s in slices(client)] == [2]


# --- pure functions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "protocol", "expected"),
    [
        (8080, "TCP", 8080),
        ("metrics", "TCP", 9090),
        ("metrics", "UDP", None),
        ("missing", "TCP", None),
    ],
)
def test_find_port(target: int | str, protocol: str, expected: int | None) -> None:
    pod = make_pod(spec={"containers": [{"name": "main", "image": "x", "ports": WEB_PORTS}]})
    assert find_port(pod, {"port": 80, "targetPort": target, "protocol": protocol}) == expected


def test_headless_service_without_ports_lists_addresses_without_ports() -> None:
    service = {
        "metadata": {"name": "db", "namespace": "default"},
        "spec": {"clusterIP": "None", "selector": {"app": "db"}},
    }
    pod = make_pod(
        "db-0",
        spec={"hostname": "db-0", "subdomain": "db"},
        status={"podIP": "127.1.0.7", "conditions": [{"type": "Ready", "status": "True"}]},
    )
    pod["metadata"]["uid"] = "u1"
    [subset] = endpoint_subsets(service, [pod])
    assert subset == {
        "addresses": [
            {
                "ip": "127.1.0.7",
                "hostname": "db-0",
                "targetRef": {"kind": "Pod", "namespace": "default", "name": "db-0", "uid": "u1"},
            }
        ]
    }


# --- what a pod gives its Services is remembered per stored pod: same results ---------------

_POD = st.fixed_dictionaries(
    {
        "ip": st.sampled_from(["", "127.1.0.2", "127.1.0.10", "127.1.0.3"]),
        "ready": st.booleans(),
        "terminating": st.booleans(),
        "phase": st.sampled_from(["Running", "Running", "Succeeded"]),
        "node": st.sampled_from(["node-1", "node-2", ""]),
        "port": st.sampled_from(["http", "metrics", "other"]),
        "hostname": st.sampled_from(["", "web-0"]),
    }
)


def _pod_of(i: int, facts: dict[str, Any]) -> Obj:
    status: Obj = {
        "phase": facts["phase"],
        "conditions": [{"type": "Ready", "status": "True" if facts["ready"] else "False"}],
    }
    if facts["ip"]:
        status["podIP"] = facts["ip"]
    container = {"name": "main", "image": "example/web:1"}
    container["ports"] = [{"name": facts["port"], "containerPort": 8080 + i}]
    spec: Obj = {"nodeName": facts["node"], "containers": [container]}
    if facts["hostname"]:
        spec |= {"hostname": facts["hostname"], "subdomain": "web"}
    pod = make_pod(f"web-{i}", spec=spec, status=status)
    pod["metadata"]["uid"] = f"u{i}"
    if facts["terminating"]:
        pod["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return pod


@settings(max_examples=150, deadline=None)
@given(
    rounds=st.lists(
        st.lists(st.tuples(st.integers(0, 5), _POD), max_size=6), min_size=1, max_size=4
    ),
    publish=st.booleans(),
)
def test_remembered_pod_entries_build_what_building_each_pod_builds(
    rounds: list[list[tuple[int, dict[str, Any]]]], publish: bool
) -> None:
    service = make_service("web", target_port="http")
    service["spec"]["publishNotReadyAddresses"] = publish
    interned = Interned()
    zones = {"node-1": "zone-a", "node-2": "zone-b"}
    pods: dict[int, Obj] = {}
    for changes in rounds:  # each round changes some pods (new stored versions), keeps others
        for i, facts in changes:
            pods[i] = _pod_of(i, facts)
        current = [pods[i] for i in sorted(pods)]
        assert endpoint_subsets(service, current, interned) == endpoint_subsets(service, current)
        cached = slice_groups(service, current, zones, interned)
        fresh = slice_groups(service, current, zones)
        assert {k: (g.ports, g.endpoints) for k, g in cached.items()} == {
            k: (g.ports, g.endpoints) for k, g in fresh.items()
        }
        zones = {"node-1": "zone-b", "node-2": "zone-b"}  # a node's zone may change too
