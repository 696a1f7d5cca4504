"""Simulated instances joining the embedded cluster: the Node a kubelet would register.

On EC2 a launched machine boots, its kubelet registers a Node, and the node turns Ready once
its network is up. :class:`NodeJoin` plays that part for a
:class:`~shipyard.cloud.simulated.SimulatedCloud` (``attach``), or for any cloud when a test
calls its steps itself:

- **running** (:meth:`NodeJoin.register`): the Node is created as the kubelet registers it —
  named after the instance's private DNS name (``ip-10-12-34-56.ec2.internal``; the address is
  derived from the instance id, so the name is stable; another instance already holding a name
  makes the next derivation), ``spec.providerID``, the instance's labels (type, zone, region,
  arch, os, capacity type, node pool and the claim's own) plus ``kubernetes.io/hostname``,
  the instance's taints (what the launch put into ``--register-with-taints``: the claim's
  taints and startup taints and ``karpenter.sh/unregistered``) plus the kubelet's own
  ``node.kubernetes.io/not-ready:NoSchedule``, capacity and allocatable from the instance, and
  ``Ready=False`` (``KubeletNotReady``: the network plugin is not up yet). The Node is
  annotated ``shipyard.dev/kubelet: external`` so the embedded kubelet keeps off it meanwhile.
- **ready** (:meth:`NodeJoin.ready`, the cloud's ``on_ready``, 10 s after running by default):
  the annotation goes, :class:`~shipyard.cluster.kubelet.KubeletManager` starts the node's
  kubelet, which posts ``Ready=True``, drops the not-ready taint and runs the pods bound
  there. Startup taints belong to agents on the node (a CNI, a device plugin): give
  ``taint_removal={key: seconds}`` and each key is removed that long after the node is Ready,
  as its owner would; otherwise they stay until something calls :func:`remove_taints`.
- **terminated** (:meth:`NodeJoin.remove`): the Node is deleted if it is still there (a node
  with the ``karpenter.sh/termination`` finalizer then waits for the lifecycle controller).

Addresses stay loopback: the kubelet gives the node a ``127.x`` InternalIP; only the name
looks like EC2's.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from shipyard.autoscaler.lifecycle import format_resources
from shipyard.cloud.provider import Instance
from shipyard.cloud.simulated import SimulatedCloud
from shipyard.cluster.client import Client
from shipyard.cluster.kubelet.agents import EXTERNAL, KUBELET_ANNOTATION
from shipyard.cluster.kubelet.kubelet import NOT_READY_TAINT
from shipyard.core.clock import format_time
from shipyard.core.errors import AlreadyExistsError, NotFoundError
from shipyard.core.labels import ARCH, HOSTNAME, OS, REGION
from shipyard.core.objects import Obj

__all__ = ["NodeJoin", "node_for_instance", "node_name_for", "remove_taints"]

NOT_READY_MESSAGE = (
    "container runtime network not ready: NetworkReady=false "
    "reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized"
)
_MAX_NAME_ATTEMPTS = 64


def _region(instance: Instance) -> str:
    return instance.labels.get(REGION) or instance.zone[:-1]


def node_name_for(instance: Instance, attempt: int = 0) -> str:
    """``ip-10-a-b-c.<domain>``: a private DNS name derived from the instance id."""
    digest = hashlib.blake2b(f"{instance.instance_id}|{attempt}".encode(), digest_size=3).digest()
    region = _region(instance)
    domain = "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"
    return f"ip-10-{digest[0]}-{digest[1]}-{digest[2] % 254 + 1}.{domain}"


def node_for_instance(instance: Instance, name: str, now: float) -> Obj:
    """The Node the instance's kubelet registers (see the module docstring)."""
    labels = {OS: "linux", **instance.labels, HOSTNAME: name, REGION: _region(instance)}
    if instance.arch:
        labels[ARCH] = instance.arch
    taints = [dict(t) for t in instance.taints]
    if not any(t.get("key") == NOT_READY_TAINT for t in taints):
        taints.append({"key": NOT_READY_TAINT, "effect": "NoSchedule"})
    stamp = format_time(now)
    not_ready = {
        "type": "Ready",
        "status": "False",
        "lastHeartbeatTime": stamp,
        "lastTransitionTime": stamp,
        "reason": "KubeletNotReady",
        "message": NOT_READY_MESSAGE,
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {KUBELET_ANNOTATION: EXTERNAL},
        },
        "spec": {"providerID": instance.provider_id, "taints": taints},
        "status": {
            "capacity": format_resources(instance.capacity),
            "allocatable": format_resources(instance.allocatable or instance.capacity),
            "conditions": [not_ready],
        },
    }


def remove_taints(client: Client, node_name: str, keys: Iterable[str]) -> Obj | None:
    """Take the taints with these keys off the node (what their owner does); None if the node
    is gone or had none of them."""
    wanted = frozenset(keys)
    try:
        node = client.get("v1", "Node", node_name)
    except NotFoundError:
        return None
    spec = node.setdefault("spec", {})
    taints = spec.get("taints") or []
    kept = [t for t in taints if t.get("key") not in wanted]
    if len(kept) == len(taints):
        return None
    spec["taints"] = kept
    return client.update(node)


class NodeJoin:
    """Registers, readies and removes the Nodes of a cloud's instances (module docstring)."""

    def __init__(self, client: Client, *, taint_removal: Mapping[str, float] | None = None) -> None:
        self._client = client
        self._clock = client.clock
        self._taint_removal = dict(taint_removal or {})
        self.nodes: dict[str, str] = {}  # provider id -> node name

    def attach(self, cloud: SimulatedCloud) -> NodeJoin:
        """Follow the cloud: register on running, ready on ready, remove on terminated."""
        cloud.on_running(self._on_running)
        cloud.on_ready(self.ready)
        cloud.on_terminated(self.remove)
        return self

    def _on_running(self, instance: Instance) -> None:
        self.register(instance)

    def register(self, instance: Instance) -> Obj:
        """Create the instance's Node (the existing one if it is registered already); the
        result is the stored object, shared and read-only."""
        for attempt in range(_MAX_NAME_ATTEMPTS):
            name = node_name_for(instance, attempt)
            node = node_for_instance(instance, name, self._clock.now())
            try:
                created = self._client.create(node, handoff=True)
            except AlreadyExistsError:
                existing = self._client.get("v1", "Node", name, copy=False)
                if (existing.get("spec") or {}).get("providerID") != instance.provider_id:
                    continue
                created = existing
            self.nodes[instance.provider_id] = name
            return created
        raise AlreadyExistsError(
            f"no free node name for instance {instance.instance_id} "
            f"after {_MAX_NAME_ATTEMPTS} attempts"
        )

    def ready(self, instance: Instance) -> None:
        """Hand the node to the embedded kubelet, which reports it Ready."""
        name = self.nodes.get(instance.provider_id)
        if name is None:
            return
        patch: dict[str, Any] = {"metadata": {"annotations": {KUBELET_ANNOTATION: None}}}
        with contextlib.suppress(NotFoundError):
            self._client.patch("v1", "Node", name, patch)
        for key, delay in sorted(self._taint_removal.items()):
            self._clock.call_later(delay, self._taint_remover(name, key))

    def _taint_remover(self, name: str, key: str) -> Callable[[], None]:
        def remove() -> None:
            remove_taints(self._client, name, [key])

        return remove

    def remove(self, instance: Instance) -> None:
        """The instance is gone: delete its Node if it is still there."""
        name = self.nodes.pop(instance.provider_id, None)
        if name is None:
            return
        with contextlib.suppress(NotFoundError):
            node = self._client.get("v1", "Node", name, copy=False)
            if (node.get("spec") or {}).get("providerID") == instance.provider_id:
                self._client.delete("v1", "Node", name)

    def node_of(self, instance: Instance) -> str | None:
        return self.nodes.get(instance.provider_id)
