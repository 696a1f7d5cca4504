"""Drift: a NodeClaim that its NodePool or node class would no longer create is replaced.

Karpenter's documented drift, in three parts:

**Detection** (pure: :func:`drift_reason`), checked in this order, the first hit wins:

1. ``NodePoolDrifted`` — the claim's ``karpenter.sh/nodepool-hash`` annotation differs from the
   hash of its NodePool's ``spec.template`` (:func:`nodepool_hash`). Like a Deployment's pod
   template hash, the hash covers the static fields (template labels, annotations, taints,
   startup taints, nodeClassRef, expireAfter, terminationGracePeriod) and leaves out the
   requirements, which are judged by value (next point). Behavioural fields (``weight``,
   ``limits``, ``disruption``) are outside the template and never drift a node.
2. ``RequirementsDrifted`` — the claim's labels no longer meet the pool's requirements
   (``In [m5.large]`` → ``In [m5.large, m5.2xlarge]`` keeps an m5.large claim; ``NotIn
   [spot]`` drifts a spot one). Well-known labels a pool leaves undefined are fine.
3. ``NodeClassDrifted`` — the claim's ``karpenter.k8s.aws/ec2nodeclass-hash`` differs from the
   hash of the EC2NodeClass's static fields (:func:`nodeclass_hash`: everything but the
   selector terms, which resolve dynamically).
4. The cloud's answer (``cloud.is_drifted``): ``AMIDrift`` after a new image is published for
   an ``@latest`` alias, ``SubnetDrift``, ``SecurityGroupDrift``.

Only launched claims can drift. Hashes carry a version annotation
(``karpenter.sh/nodepool-hash-version``); a claim stamped under another version is re-stamped
rather than called drifted, so changing how Shipyard hashes never rolls a fleet.

**Marking** (:class:`DriftController`, ``nodeclaim.drift``): sets the claim's ``Drifted``
status condition (reason as above, ``True``) or removes it when the claim is no longer drifted.
It checks a claim fully when the claim changes, and every claim of a NodePool or node class
whose spec changed; every ``poll`` seconds (5 minutes by default) a sweep asks the cloud about
each launched claim not yet marked, since an AMI release changes no object (verdicts are
shared between instances alike in image, subnet, groups and architecture, so a sweep of
thousands of claims costs a few cloud look-ups). Parsed pools, hashes and requirement
verdicts are remembered per stored version. The same module's
:class:`NodePoolHashController` (``nodepool.hash``) writes the current hashes onto each
NodePool and EC2NodeClass, as Karpenter annotates them. Hashes ignore nulls and empty maps
or lists, so writing ``labels: {}`` and leaving labels out hash the same.

**Replacement** (:class:`Drift`, the ``drift`` disruption method): candidates whose claim is
``Drifted=True``; the empty ones are deleted together (as many as the ``Drifted`` budget
allows); otherwise the cheapest-to-disrupt candidate whose pods all fit elsewhere (existing
capacity or replacement claims, per the :class:`~.types.Rescheduler`) is replaced — the
disruption controller launches the replacements, waits for them, then drains the node.

The provisioner stamps each NodeClaim it creates with its NodePool's hash, as Karpenter's
does (:mod:`shipyard.autoscaler.apis.hashing`); the drift controller stamps what is missing
(the node class's hash, or a claim made by something else) the first time it sees a claim.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.autoscaler.apis import NodePoolView
from shipyard.autoscaler.apis.hashing import (
    HASH_VERSION,
    NODECLASS_HASH,
    NODECLASS_HASH_VERSION,
    NODEPOOL_HASH,
    NODEPOOL_HASH_VERSION,
    digest,
    hash_annotations,
    nodeclass_hash,
    nodepool_hash,
)
from shipyard.autoscaler.disruption.types import (
    DRIFTED,
    BudgetMap,
    Candidate,
    Command,
    Rescheduler,
)
from shipyard.autoscaler.lifecycle.model import API_VERSION, KIND, LAUNCHED, condition_status
from shipyard.cloud.provider import CloudProvider
from shipyard.cluster.client import Client
from shipyard.cluster.podutil import condition, is_terminating, set_condition
from shipyard.cluster.runtime import Result, Watches
from shipyard.core.errors import NotFoundError, ShipyardError
from shipyard.core.labels import NODEPOOL
from shipyard.core.objects import Obj, ObjectKey, json_copy, meta
from shipyard.core.requirements import Requirements

__all__ = [
    "DRIFTED_CONDITION",
    "HASH_VERSION",
    "NODECLASS_DRIFTED",
    "NODECLASS_HASH",
    "NODECLASS_HASH_VERSION",
    "NODEPOOL_DRIFTED",
    "NODEPOOL_HASH",
    "NODEPOOL_HASH_VERSION",
    "REQUIREMENTS_DRIFTED",
    "Drift",
    "DriftController",
    "NodePoolHashController",
    "drift_reason",
    "nodeclass_hash",
    "nodepool_hash",
    "requirements_drift",
]


DRIFTED_CONDITION = "Drifted"
NODEPOOL_DRIFTED = "NodePoolDrifted"
NODECLASS_DRIFTED = "NodeClassDrifted"
REQUIREMENTS_DRIFTED = "RequirementsDrifted"

NODEPOOL_API = "karpenter.sh/v1"
NODECLASS_API = "karpenter.k8s.aws/v1"
NODECLASS_KIND = "EC2NodeClass"
DEFAULT_DRIFT_POLL = 300.0
SWEEP_KEY = ObjectKey(API_VERSION, KIND, "", "*drift*")
_MEMO_LIMIT = 4096


# --- pure parts -------------------------------------------------------------------------------


def requirements_drift(pool: NodePoolView, claim_labels: Mapping[str, str]) -> str | None:
    """Why labels of a claim no longer meet its pool's requirements, or ``None``."""
    return pool.requirements.compatible(Requirements.from_labels(claim_labels))


@dataclass(frozen=True)
class DriftFacts:
    """What :func:`drift_reason` compares: the claim and the current state of its sources.

    ``pool_hash`` and ``class_hash`` are the current hashes of the claim's NodePool and node
    class (``None``: no node class, then only the pool is compared); ``requirements`` is
    :func:`requirements_drift` of the claim's labels; ``cloud_drift`` is the cloud's verdict on
    the claim's instance (``""`` when not drifted or unknown). :meth:`of` computes them all.
    """

    claim: Mapping[str, Any]
    pool_view: NodePoolView
    pool_hash: str
    requirements: str | None = None
    class_name: str = ""
    class_hash: str | None = None
    cloud_drift: str = ""

    @classmethod
    def of(
        cls,
        claim: Mapping[str, Any],
        pool: Mapping[str, Any],
        node_class: Mapping[str, Any] | None = None,
        cloud_drift: str = "",
    ) -> DriftFacts:
        view = NodePoolView.from_object(pool)
        return cls(
            claim,
            view,
            nodepool_hash(pool),
            requirements_drift(view, meta(claim).get("labels") or {}),
            str(meta(node_class).get("name") or "") if node_class is not None else "",
            nodeclass_hash(node_class) if node_class is not None else None,
            cloud_drift,
        )


def drift_reason(facts: DriftFacts) -> tuple[str, str]:
    """``(reason, message)`` of the first drift found (module docstring order), or ``("", "")``."""
    annotations = meta(facts.claim).get("annotations") or {}
    stamped = annotations.get(NODEPOOL_HASH)
    current = annotations.get(NODEPOOL_HASH_VERSION) == HASH_VERSION
    if stamped is not None and current and stamped != facts.pool_hash:
        return NODEPOOL_DRIFTED, (
            f'NodePool "{facts.pool_view.name}" template changed '
            f"(hash {stamped} → {facts.pool_hash})"
        )
    if facts.requirements is not None:
        return REQUIREMENTS_DRIFTED, (
            f"labels no longer meet the NodePool's requirements: {facts.requirements}"
        )
    stamped = annotations.get(NODECLASS_HASH)
    if (
        facts.class_hash is not None
        and stamped is not None
        and annotations.get(NODECLASS_HASH_VERSION) == HASH_VERSION
        and stamped != facts.class_hash
    ):
        return NODECLASS_DRIFTED, (
            f'{NODECLASS_KIND} "{facts.class_name}" changed (hash {stamped} → {facts.class_hash})'
        )
    if facts.cloud_drift:
        return facts.cloud_drift, f"the cloud reports {facts.cloud_drift} for the instance"
    return "", ""


def _needs_stamp(annotations: Mapping[str, Any], wanted: Mapping[str, str]) -> dict[str, str]:
    """The hash annotations to (re)write: missing ones, and all of a kind stamped under another
    hashing version."""
    out: dict[str, str] = {}
    for key, version_key in (
        (NODEPOOL_HASH, NODEPOOL_HASH_VERSION),
        (NODECLASS_HASH, NODECLASS_HASH_VERSION),
    ):
        if key not in wanted:
            continue
        if annotations.get(key) is None or annotations.get(version_key) != HASH_VERSION:
            out[key], out[version_key] = wanted[key], wanted[version_key]
    return out


# --- marking ----------------------------------------------------------------------------------


class DriftController:
    """Marks NodeClaims ``Drifted`` (see the module docstring)."""

    name = "nodeclaim.drift"

    def __init__(
        self, client: Client, cloud: CloudProvider, *, poll: float = DEFAULT_DRIFT_POLL
    ) -> None:
        if poll <= 0:
            raise ValueError(f"poll must be positive, got {poll}")
        self._client = client
        self._cloud = cloud
        self._clock = client.clock
        self._poll = poll
        self._sweeping = False
        self._pool_specs: dict[str, str] = {}  # pool name -> digest of its template
        self._class_specs: dict[str, str] = {}  # node class name -> digest of its spec
        # name -> ((uid, resourceVersion), ...): parsed and hashed once per stored version
        self._pools: dict[str, tuple[tuple[str, str], NodePoolView | None, str]] = {}
        self._classes: dict[str, tuple[tuple[str, str], str]] = {}
        self._memo: dict[tuple[Any, ...], str | None] = {}

    def watches(self) -> list[Watches]:
        return [
            Watches(API_VERSION, KIND, self._claim_keys),
            Watches(NODEPOOL_API, "NodePool", self._pool_keys),
            Watches(NODECLASS_API, NODECLASS_KIND, self._class_keys),
        ]

    # -- mappers --------------------------------------------------------------------------------

    def _claim_keys(self, claim: Obj) -> tuple[ObjectKey, ...]:
        own = (_key(str(meta(claim).get("name"))),)
        return own if self._sweeping else (*own, SWEEP_KEY)

    def _pool_keys(self, pool: Obj) -> tuple[ObjectKey, ...]:
        # NodePool status changes with every claim: only a changed template concerns drift
        name = str(meta(pool).get("name"))
        template = digest((pool.get("spec") or {}).get("template"))
        if self._pool_specs.get(name) == template:
            return ()
        self._pool_specs[name] = template
        claims = self._client.list(
            API_VERSION, KIND, label_selector=f"{NODEPOOL}={name}", copy=False
        )
        return tuple(_key(str(meta(c).get("name"))) for c in claims.items)

    def _class_keys(self, node_class: Obj) -> tuple[ObjectKey, ...]:
        name = str(meta(node_class).get("name"))
        spec = digest(node_class.get("spec"))
        if self._class_specs.get(name) == spec:
            return ()
        self._class_specs[name] = spec
        claims = self._client.list(API_VERSION, KIND, copy=False).items
        return tuple(
            _key(str(meta(c).get("name")))
            for c in claims
            if ((c.get("spec") or {}).get("nodeClassRef") or {}).get("name") == name
        )

    # -- reconcile ------------------------------------------------------------------------------

    def reconcile(self, key: ObjectKey) -> Result | None:
        if key == SWEEP_KEY:
            self._sweeping = True
            self.sweep()
            return Result(requeue_after=self._poll)
        self.check(self._client.get(API_VERSION, KIND, key.name, copy=False))
        return None

    def sweep(self) -> int:
        """Ask the cloud about every launched claim not yet marked, and check fully those it
        calls drifted (the rest changed no object, so nothing else about them can have);
        the number of claims found drifted. Verdicts are shared between instances that agree
        in everything the cloud judges (image, subnet, groups, architecture, node class)."""
        memo: dict[tuple[Any, ...], str] = {}
        found = 0
        for claim in self._client.list(API_VERSION, KIND, copy=False).items:
            if is_terminating(claim) or condition_status(claim, LAUNCHED) != "True":
                continue
            if (condition(claim, DRIFTED_CONDITION) or {}).get("status") == "True":
                continue
            if self._cloud_drift(claim, self._node_class(claim), memo) and self.check(claim):
                found += 1
        return found

    def check(self, claim: Obj) -> str:
        """Stamp, judge and mark one claim (the stored object, not changed); its drift reason."""
        if is_terminating(claim):
            return ""
        launched = condition_status(claim, LAUNCHED) == "True"
        pool_name = (meta(claim).get("labels") or {}).get(NODEPOOL)
        pool = self._get(NODEPOOL_API, "NodePool", str(pool_name)) if pool_name else None
        if not launched or pool is None:
            self._mark(claim, "", "")
            return ""
        view, pool_hash = self._pool_facts(pool)
        node_class = self._node_class(claim)
        class_hash = self._class_hash(node_class) if node_class is not None else None
        stamp = _needs_stamp(
            meta(claim).get("annotations") or {}, hash_annotations(pool_hash, class_hash)
        )
        if stamp:
            claim = self._stamp(claim, stamp)
        if view is None:
            return ""  # an invalid pool: the provisioner reports it; judge nothing
        class_name = str(meta(node_class).get("name")) if node_class is not None else ""
        cloud = self._cloud_drift(claim, node_class)
        why = self._requirements(view, pool, meta(claim).get("labels") or {})
        facts = DriftFacts(claim, view, pool_hash, why, class_name, class_hash, cloud)
        reason, message = drift_reason(facts)
        self._mark(claim, reason, message)
        return reason

    def _pool_facts(self, pool: Obj) -> tuple[NodePoolView | None, str]:
        """The pool's view (None when invalid) and hash, computed once per stored version."""
        md = meta(pool)
        version = (str(md.get("uid")), str(md.get("resourceVersion")))
        cached = self._pools.get(str(md.get("name")))
        if cached is not None and cached[0] == version:
            return cached[1], cached[2]
        try:
            view: NodePoolView | None = NodePoolView.from_object(pool)
        except ShipyardError:
            view = None
        digest = nodepool_hash(pool)
        self._pools[str(md.get("name"))] = (version, view, digest)
        return view, digest

    def _requirements(self, view: NodePoolView, pool: Obj, labels: Mapping[str, str]) -> str | None:
        """:func:`requirements_drift`, remembered per pool version and label set (claims of
        one instance type and zone share their labels)."""
        key = (
            str(meta(pool).get("uid")),
            str(meta(pool).get("resourceVersion")),
            *sorted(labels.items()),
        )
        if key not in self._memo:
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            self._memo[key] = requirements_drift(view, labels)
        return self._memo[key]

    def _class_hash(self, node_class: Obj) -> str:
        md = meta(node_class)
        version = (str(md.get("uid")), str(md.get("resourceVersion")))
        cached = self._classes.get(str(md.get("name")))
        if cached is not None and cached[0] == version:
            return cached[1]
        digest = nodeclass_hash(node_class)
        self._classes[str(md.get("name"))] = (version, digest)
        return digest

    def _node_class(self, claim: Obj) -> Obj | None:
        ref = (claim.get("spec") or {}).get("nodeClassRef") or {}
        if ref.get("kind") != NODECLASS_KIND:
            return None
        return self._get(f"{ref.get('group')}/v1", NODECLASS_KIND, str(ref.get("name")))

    def _cloud_drift(
        self, claim: Obj, node_class: Obj | None, memo: dict[tuple[Any, ...], str] | None = None
    ) -> str:
        provider_id = str((claim.get("status") or {}).get("providerID") or "")
        try:
            instance = self._cloud.get(provider_id)
        except NotFoundError:
            return ""  # gone: garbage collection's business
        if memo is None:
            return self._cloud.is_drifted(instance, node_class)
        ref = meta(node_class) if node_class is not None else {}
        key = (
            instance.image_id,
            instance.subnet_id,
            instance.security_group_ids,
            instance.arch,
            ref.get("uid"),
            ref.get("resourceVersion"),
        )
        if key not in memo:
            memo[key] = self._cloud.is_drifted(instance, node_class)
        return memo[key]

    def _get(self, api_version: str, kind: str, name: str) -> Obj | None:
        try:
            return self._client.get(api_version, kind, name, copy=False)
        except ShipyardError:
            return None

    def _stamp(self, claim: Obj, annotations: Mapping[str, str]) -> Obj:
        updated = json_copy(claim)
        md = updated["metadata"]
        md["annotations"] = {**(md.get("annotations") or {}), **annotations}
        return self._client.update(updated, handoff=True)

    def _mark(self, claim: Obj, reason: str, message: str) -> None:
        current = condition(claim, DRIFTED_CONDITION)
        if not reason:
            if current is None:
                return
            updated = json_copy(claim)
            conditions = (updated.get("status") or {}).get("conditions") or []
            updated["status"]["conditions"] = [
                c for c in conditions if c.get("type") != DRIFTED_CONDITION
            ]
            self._client.update_status(updated, handoff=True)
            return
        if current is not None and (current.get("status"), current.get("reason")) == (
            "True",
            reason,
        ):
            return
        updated = json_copy(claim)
        set_condition(
            updated,
            DRIFTED_CONDITION,
            "True",
            now=self._clock.now(),
            reason=reason,
            message=message,
        )
        self._client.update_status(updated, handoff=True)


class NodePoolHashController:
    """Annotates each NodePool and EC2NodeClass with its current hash (``nodepool.hash``)."""

    name = "nodepool.hash"

    def __init__(self, client: Client) -> None:
        self._client = client

    def watches(self) -> list[Watches]:
        return [Watches(NODEPOOL_API, "NodePool"), Watches(NODECLASS_API, NODECLASS_KIND)]

    def reconcile(self, key: ObjectKey) -> Result | None:
        obj = self._client.get(key.api_version, key.kind, key.name, copy=False)
        if key.kind == "NodePool":
            wanted = {NODEPOOL_HASH: nodepool_hash(obj), NODEPOOL_HASH_VERSION: HASH_VERSION}
        else:
            wanted = {NODECLASS_HASH: nodeclass_hash(obj), NODECLASS_HASH_VERSION: HASH_VERSION}
        annotations = meta(obj).get("annotations") or {}
        if all(annotations.get(k) == v for k, v in wanted.items()):
            return None
        updated = json_copy(obj)
        updated["metadata"]["annotations"] = {**annotations, **wanted}
        self._client.update(updated, handoff=True)
        return None


# --- replacement ------------------------------------------------------------------------------


class Drift:
    """The ``drift`` disruption method (see the module docstring)."""

    name = "drift"
    reason = DRIFTED

    def __init__(self, rescheduler: Rescheduler) -> None:
        self._rescheduler = rescheduler

    def should_disrupt(self, candidate: Candidate) -> bool:
        found = condition(candidate.claim, DRIFTED_CONDITION)
        return found is not None and found.get("status") == "True"

    def compute(self, candidates: Sequence[Candidate], budgets: BudgetMap) -> Command | None:
        ordered = sorted(candidates, key=lambda c: (c.disruption_cost, c.name))
        empty = tuple(c for c in ordered if not c.pods and budgets.take(c.nodepool, DRIFTED))
        if empty:
            return Command(empty, DRIFTED, self.name)
        for candidate in ordered:
            if budgets.remaining(candidate.nodepool, DRIFTED) < 1:
                continue
            plan = self._rescheduler.simulate([candidate])
            if plan.errors:
                continue  # some pod would have nowhere to go: try this node again later
            budgets.take(candidate.nodepool, DRIFTED)
            savings = candidate.price - plan.total_price()
            return Command((candidate,), DRIFTED, self.name, plan.new_claims, savings=savings)
        return None


def _key(name: str) -> ObjectKey:
    return ObjectKey(API_VERSION, KIND, "", name)
