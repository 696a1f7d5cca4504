"""``NodeClaimGarbageCollector``: instances without claims, claims without instances.

Karpenter's garbage collection, on the injected clock:

- **Orphan instances.** An instance the cloud lists, tagged as Karpenter's (a
  ``karpenter.sh/nodepool`` tag or a claim name), that no NodeClaim names in
  ``status.providerID`` is terminated once it has been without a claim for ``orphan_after``
  seconds (30) and is at least that old — the grace covers a launch whose claim write has
  not landed yet. Instances already shutting down are left to finish.
- **Claims whose instance is gone.** A launched claim (``Launched=True``) whose instance the
  cloud no longer lists, and ``get`` confirms is unknown (``NotFoundError``), is deleted with an
  ``InstanceTerminated`` event; termination then drains and releases its node.

The collector is one controller, ``nodeclaim.garbagecollection``, with one key
(:data:`GC_KEY`): the first NodeClaim event queues it, and every pass asks to run again after
``period`` seconds (sooner when an orphan falls due). A cluster that starts with instances but
no claims can queue it itself: ``manager.enqueue(NodeClaimGarbageCollector.name, GC_KEY)``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence

from shipyard.autoscaler.lifecycle.launch import NODEPOOL_TAG
from shipyard.autoscaler.lifecycle.model import API_VERSION, KIND, LAUNCHED, condition_status
from shipyard.cloud.provider import CloudProvider, Instance
from shipyard.cluster.client import Client
from shipyard.cluster.events import WARNING, EventRecorder
from shipyard.cluster.podutil import is_terminating
from shipyard.cluster.runtime import Result, Watches
from shipyard.core.errors import NotFoundError
from shipyard.core.objects import Obj, ObjectKey, meta

__all__ = ["DEFAULT_ORPHAN_AFTER", "GC_KEY", "NodeClaimGarbageCollector"]

log = logging.getLogger(__name__)

DEFAULT_ORPHAN_AFTER = 30.0
DEFAULT_PERIOD = 10.0
GC_KEY = ObjectKey(API_VERSION, KIND, "", "*")
_LEAVING = frozenset({"shutting-down", "terminated"})


class NodeClaimGarbageCollector:
    """Terminates orphan instances and deletes claims whose instance is gone."""

    name = "nodeclaim.garbagecollection"

    def __init__(
        self,
        client: Client,
        cloud: CloudProvider,
        *,
        recorder: EventRecorder | None = None,
        orphan_after: float = DEFAULT_ORPHAN_AFTER,
        period: float = DEFAULT_PERIOD,
    ) -> None:
        if orphan_after < 0 or period <= 0:
            raise ValueError("orphan_after must not be negative and period must be positive")
        self._client = client
        self._cloud = cloud
        self._clock = client.clock
        self._recorder = recorder or EventRecorder(client, "karpenter")
        self._orphan_after = orphan_after
        self._period = period
        self._orphaned_since: dict[str, float] = {}
        self._running = False
        self.terminated: list[str] = []  # provider ids of the orphans terminated, in order

    def watches(self) -> list[Watches]:
        return [Watches(API_VERSION, KIND, self._kick)]

    def _kick(self, _claim: Obj) -> tuple[ObjectKey, ...]:
        return () if self._running else (GC_KEY,)

    def reconcile(self, key: ObjectKey) -> Result | None:
        self._running = True
        now = self._clock.now()
        instances = self._cloud.list()
        claims = self._client.list(API_VERSION, KIND, copy=False).items
        wait = self._collect_orphans(instances, claims, now)
        self._delete_lost_claims(instances, claims)
        return Result(requeue_after=min(self._period, wait))

    def _collect_orphans(
        self, instances: Sequence[Instance], claims: Sequence[Obj], now: float
    ) -> float:
        """Terminate orphans that are due; the seconds until the next one is."""
        claimed = {str((c.get("status") or {}).get("providerID") or "") for c in claims}
        wait = self._period
        seen = set()
        for instance in instances:
            provider_id = instance.provider_id
            if provider_id in claimed or instance.state in _LEAVING or not _managed(instance):
                continue
            seen.add(provider_id)
            since = self._orphaned_since.setdefault(provider_id, now)
            due = max(since, instance.launch_time) + self._orphan_after
            if now < due:
                wait = min(wait, due - now)
                continue
            with contextlib.suppress(NotFoundError):
                self._cloud.delete(provider_id)
            log.info("terminated instance %s: no NodeClaim names it", provider_id)
            self.terminated.append(provider_id)
        self._orphaned_since = {p: t for p, t in self._orphaned_since.items() if p in seen}
        return max(0.0, wait)

    def _delete_lost_claims(self, instances: Sequence[Instance], claims: Sequence[Obj]) -> None:
        live = {i.provider_id for i in instances}
        for claim in claims:
            provider_id = str((claim.get("status") or {}).get("providerID") or "")
            if not provider_id or provider_id in live or is_terminating(claim):
                continue
            if condition_status(claim, LAUNCHED) != "True" or self._exists(provider_id):
                continue
            name = str(meta(claim).get("name"))
            with contextlib.suppress(NotFoundError):
                self._client.delete(API_VERSION, KIND, name)
            self._recorder.event(
                claim, WARNING, "InstanceTerminated",
                f"Instance {provider_id} no longer exists; deleting NodeClaim {name}",
            )  # fmt: skip

    def _exists(self, provider_id: str) -> bool:
        try:
            self._cloud.get(provider_id)
        except NotFoundError:
            return False
        return True


def _managed(instance: Instance) -> bool:
    return bool(instance.tags.get(NODEPOOL_TAG) or instance.claim_name)
