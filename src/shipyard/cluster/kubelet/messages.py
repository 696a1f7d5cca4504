"""What a simulated container's failures say: the kubelet's probe and image pull messages.

The :class:`~.simulated.SimulatedRuntime` fails probes and pulls with the texts a real node
reports, so the events and statuses a scenario produces read as they would on a cluster:

- :func:`timeout_message` — a probe of a hung process, as the kubelet's prober reports the
  timeout: ``Get "<url>": context deadline exceeded (Client.Timeout exceeded while awaiting
  headers)`` (``httpGet``), ``dial tcp <ip>:<port>: i/o timeout`` (``tcpSocket``),
  ``timeout: failed to connect service "<ip>:<port>" within <timeoutSeconds>s`` (``grpc``),
  ``command "<command>" timed out`` (``exec``);
- :func:`refused_message` — a probe the process answers without passing it: ``HTTP probe
  failed with statuscode: 503``, ``dial tcp <ip>:<port>: connect: connection refused``,
  ``service unhealthy (responded with "NOT_SERVING")``, and an empty message for ``exec``;
- :func:`pull_error` — containerd's ``ErrImagePull`` message for an image whose profile is
  not ``pullable``, naming the reference fully qualified (``alpine`` is
  ``docker.io/library/alpine:latest``);
- :func:`never_pull_message` — the kubelet's ``ErrImageNeverPull`` message.

A named probe port (``port: http``) is the ``containerPort`` of the container's port of that
name, as the kubelet resolves it. :func:`container_spec` (a container of the pod, init or
regular, by name) and :func:`container_of` are the lookups this rests on; the runtime finds
containers with them too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shipyard.cluster.kubelet.profiles import image_repository, normalized_repository
from shipyard.core.objects import Obj

__all__ = [
    "container_of",
    "container_spec",
    "never_pull_message",
    "pull_error",
    "refused_message",
    "timeout_message",
]


def container_spec(pod: Obj, name: str) -> tuple[Mapping[str, Any] | None, bool]:
    spec = pod.get("spec") or {}
    for key, init in (("initContainers", True), ("containers", False)):
        for container in spec.get(key) or ():
            if container.get("name") == name:
                return container, init
    return None, False


def container_of(pod: Obj, name: str) -> Mapping[str, Any]:
    spec, _ = container_spec(pod, name)
    return spec or {}


def _port(handler: Mapping[str, Any], pod: Obj, container: str) -> str:
    port = handler.get("port", "")
    if isinstance(port, str) and not port.isdigit():
        for p in container_of(pod, container).get("ports") or ():
            if p.get("name") == port:
                return str(p.get("containerPort"))
    return str(port)


def timeout_message(probe: Mapping[str, Any], ip: str, pod: Obj, container: str) -> str:
    if (h := probe.get("httpGet")) is not None:
        scheme = str(h.get("scheme") or "HTTP").lower()
        url = f"{scheme}://{ip}:{_port(h, pod, container)}{h.get('path') or '/'}"
        return (
            f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting '
            "headers)"
        )
    if (h := probe.get("tcpSocket")) is not None:
        return f"dial tcp {ip}:{_port(h, pod, container)}: i/o timeout"
    if (h := probe.get("grpc")) is not None:
        seconds = probe.get("timeoutSeconds") or 1
        return f'timeout: failed to connect service "{ip}:{h.get("port")}" within {seconds}s'
    command = " ".join(str(a) for a in (probe.get("exec") or {}).get("command") or ())
    return f'command "{command}" timed out'


def refused_message(probe: Mapping[str, Any], ip: str, pod: Obj, container: str) -> str:
    if probe.get("httpGet") is not None:
        return "HTTP probe failed with statuscode: 503"
    if (h := probe.get("tcpSocket")) is not None:
        return f"dial tcp {ip}:{_port(h, pod, container)}: connect: connection refused"
    if probe.get("grpc") is not None:
        return 'service unhealthy (responded with "NOT_SERVING")'
    return ""


def pull_error(image: str) -> str:
    ref = f"{normalized_repository(image)}:{_tag(image)}"
    return (
        f'failed to pull and unpack image "{ref}": failed to resolve reference "{ref}": '
        f"{ref}: not found"
    )


def never_pull_message(image: str) -> str:
    return f'Container image "{image}" is not present with pull policy of Never'


def _tag(image: str) -> str:
    repo = image_repository(image)
    rest = image[len(repo) :]
    return rest[1:] if rest.startswith(":") else "latest"
