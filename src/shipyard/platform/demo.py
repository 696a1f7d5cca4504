"""The scripted demo behind ``make demo`` (until the simulator takes its place).

It drives the embedded cluster's API machinery through the same functions the CLI uses and
says what happened at each step: apply manifests, reject a bad one at admission with its
field path, roll a new image with a three-way apply that keeps a field someone else owns,
survive a restart from SQLite, and watch a namespace deletion cascade through its contents.
Then the node autoscaler, in virtual time on the simulated EC2: a Deployment with nowhere to
run gets the cheapest node that fits from a Karpenter NodePool, and scaling it up stops at
the NodePool's cpu limit with an event saying so.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from shipyard.core.clock import VirtualClock
from shipyard.core.errors import InvalidError, NotFoundError
from shipyard.core.objects import Obj, meta
from shipyard.platform.autoscaling import AutoscaledCluster
from shipyard.platform.wiring import open_cluster
from shipyard.store.manifests import apply_object, parse_manifests
from shipyard.store.store import Store

__all__ = ["run_demo"]

Say = Callable[[str], None]


def _manifests(folder_name: str = "demo_manifests") -> list[Obj]:
    folder = resources.files("shipyard.platform") / folder_name
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".yaml")), key=lambda f: f.name)
    return [m.obj for f in files for m in parse_manifests(f.read_text(), f"demo/{f.name}")]


def run_demo(say: Say, data_dir: Path | None = None) -> int:
    """Run every step; returns the number of checks that failed (0 on success)."""
    with tempfile.TemporaryDirectory(prefix="shipyard-demo-") as tmp:
        where = data_dir or Path(tmp)
        say(f"== Embedded cluster in {where} (SQLite, WAL)")
        store = open_cluster(where)
        failures = _first_half(store, say)
        store.close()
        say("\n== Restart: close the database and open it again")
        store = open_cluster(where)
        failures += _second_half(store, say)
        store.close()
    failures += _autoscaling(say)
    say("\nDemo finished: " + ("every check held." if failures == 0 else f"{failures} failed."))
    return failures


def _first_half(store: Store, say: Say) -> int:
    manifests = _manifests()
    say("\n== 1. Apply the shop manifests (kubectl-style client-side apply)")
    for obj in manifests:
        say(f"   {apply_object(store, obj)}")

    say("\n== 2. A manifest with a bad quantity is rejected at admission, nothing is written")
    bad = copy.deepcopy(_find(manifests, "Deployment"))
    bad["metadata"]["name"] = "web-broken"
    bad["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "fast"
    try:
        apply_object(store, bad)
        say("   !! the bad manifest was accepted")
        return 1
    except InvalidError as e:
        for cause in e.causes:
            say(f"   rejected: {cause}")
    exists = _exists(store, "apps/v1", "Deployment", "web-broken", "shop")
    say(f"   web-broken stored: {exists}")

    say("\n== 3. Someone else scales the Deployment (like an HPA would): replicas 1 -> 4")
    store.patch("apps/v1", "Deployment", "web", {"spec": {"replicas": 4}}, namespace="shop")
    say("\n== 4. Roll a new image by re-applying the manifest with only the image changed")
    web = copy.deepcopy(_find(manifests, "Deployment"))
    web["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.local/shop/web:1.1.0"
    before = store.get("apps/v1", "Deployment", "web", namespace="shop")
    result = apply_object(store, web)
    after = result.obj
    say(f"   {result}")
    say(
        f"   generation {meta(before)['generation']} -> {meta(after)['generation']}, "
        f"image {after['spec']['template']['spec']['containers'][0]['image']}, "
        f"replicas kept at {after['spec']['replicas']} (the manifest never set it)"
    )
    say(f"   re-apply the same manifest: {apply_object(store, web).action}")
    ok = after["spec"]["replicas"] == 4 and not exists
    return 0 if ok else 1


def _second_half(store: Store, say: Say) -> int:
    web = store.get("apps/v1", "Deployment", "web", namespace="shop")
    say(
        f"   deployment web still there, image "
        f"{web['spec']['template']['spec']['containers'][0]['image']}, "
        f"resourceVersion {meta(web)['resourceVersion']} (store at {store.resource_version})"
    )
    say("\n== 5. Watch the namespace while it is deleted: its contents go with it")
    watch = store.watch(namespace="shop", resource_version=store.resource_version)
    store.delete("v1", "Namespace", "shop")
    for event in watch.poll():
        say(f"   {event.type:<8} {event.object['kind']}/{meta(event.object)['name']}")
    watch.stop()
    gone = not _exists(store, "v1", "Namespace", "shop", "")
    say(f"   namespace shop gone: {gone}")
    return 0 if gone else 1


def _autoscaling(say: Say) -> int:
    say("\n== 6. Node autoscaling: a Deployment with nowhere to run (virtual time, simulated EC2)")
    auto = AutoscaledCluster.in_memory(VirtualClock()).start()
    try:
        for obj in _manifests("demo_autoscaling"):
            say(f"   {apply_object(auto.store, obj)}")
        waited = _run_until_running(auto, "api", 3)
        say(f"   3 pods pending -> running after {waited:.0f}s; nodes launched:")
        claims = _say_claims(auto, say)
        ok = waited < 120 and len(claims) == 1

        say("\n== 7. Scale to 16 replicas: more nodes, until the NodePool's cpu limit (8) stops it")
        auto.client.patch(
            "apps/v1", "Deployment", "api", {"spec": {"replicas": 16}}, namespace="default"
        )
        _run_until_running(auto, "api", 16, limit=180)
        claims = _say_claims(auto, say)
        cpus = sum(int(c["status"]["capacity"]["cpu"]) for c in claims)
        pending = [p for p in _pods(auto, "api") if not (p.get("spec") or {}).get("nodeName")]
        limits = [
            e["message"]
            for e in auto.client.list("v1", "Event", namespace="default").items
            if e.get("involvedObject", {}).get("kind") == "NodePool"
        ]
        say(f"   nodes hold {cpus} vCPU; {len(pending)} pods still pending")
        for message in sorted(set(limits))[:1]:
            say(f"   NodePool event: {message}")
        cost = auto.metrics_snapshot()["karpenter_cloudprovider_cost_per_hour"]["values"]
        say(f"   cost now ${sum(v['value'] for v in cost):.4f}/h")
        ok = ok and cpus <= 8 and bool(pending) and bool(limits)
    finally:
        auto.stop()
    say(f"   check: the cheapest fitting nodes launched and the limit held: {ok}")
    return 0 if ok else 1


def _pods(auto: AutoscaledCluster, app: str) -> list[Obj]:
    return auto.client.list("v1", "Pod", namespace="default", label_selector=f"app={app}").items


def _run_until_running(
    auto: AutoscaledCluster, app: str, count: int, *, limit: float = 120
) -> float:
    start = auto.cluster.clock.now()
    while auto.cluster.clock.now() - start < limit:
        auto.run_for(1)
        running = [p for p in _pods(auto, app) if (p.get("status") or {}).get("phase") == "Running"]
        if len(running) >= count:
            break
    return auto.cluster.clock.now() - start


def _say_claims(auto: AutoscaledCluster, say: Say) -> list[Obj]:
    claims = auto.client.list("karpenter.sh/v1", "NodeClaim").items
    for c in claims:
        labels = meta(c).get("labels") or {}
        price = (meta(c).get("annotations") or {}).get("shipyard.dev/price", "?")
        say(
            f"   nodeclaim/{meta(c)['name']}: {labels.get('node.kubernetes.io/instance-type')} "
            f"{labels.get('karpenter.sh/capacity-type')} "
            f"in {labels.get('topology.kubernetes.io/zone')}, ${price}/h, "
            f"node {(c.get('status') or {}).get('nodeName', '-')}"
        )
    return claims


def _find(objs: list[Obj], kind: str) -> Obj:
    return next(o for o in objs if o["kind"] == kind)


def _exists(store: Store, api_version: str, kind: str, name: str, namespace: str) -> bool:
    try:
        store.get(api_version, kind, name, namespace=namespace)
    except NotFoundError:
        return False
    return True
