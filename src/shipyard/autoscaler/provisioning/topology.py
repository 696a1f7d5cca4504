"""Topology groups: pod counts per domain for spread constraints and pod (anti-)affinity.

A :class:`Group` is Karpenter's topology group — ``SELECT COUNT(*) FROM pods WHERE selector
GROUP BY node[topologyKey]`` — for one spread constraint or one affinity term. Pods with equal
rules share a group (a Deployment's replicas own one group, not one each). Kinds:

- **spread** (``maxSkew``, ``minDomains``, a node filter from the owner's required node
  affinity when ``nodeAffinityPolicy`` is ``Honor``): a pod may go to a domain when
  ``count + (1 if it matches its own selector) - min <= maxSkew``, ``min`` being the smallest
  count over the domains the pod may use (0 when fewer than ``minDomains`` exist, and always 0
  for ``kubernetes.io/hostname``, since a new node is an empty domain). Among the allowed
  domains of a claim, the least-populated is chosen (ties by name) and pins the claim.
- **affinity**: domains that already hold a matching pod; a pod matching its own selector may
  bootstrap the first domain when none does.
- **anti-affinity**: domains with no matching pod. *Inverse* groups track where pods with a
  required anti-affinity term are, so a pod they select keeps away (anti-affinity is
  symmetric in kube-scheduler).

Domains are registered up front (every value the pools' instance types and template labels
allow for the key, plus existing nodes' labels); hostname domains are the node names or claim
placeholders and are never enumerated. A placement is recorded in every group that selects the
pod: spread and affinity only when the domain is pinned to one value, anti-affinity in every
domain the claim could still land in.

Deliberate difference from Karpenter: an anti-affinity group pins an unpinned claim to one
empty domain (the first by name) instead of narrowing it to all of them and counting the pod
in each; so three pods with zonal anti-affinity fit one batch instead of one per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from shipyard.cluster.scheduler.podinfo import AffinityTerm, SpreadConstraint
from shipyard.core.labels import HOSTNAME
from shipyard.core.requirements import IN, Requirement, Requirements
from shipyard.core.selectors import LabelSelector

__all__ = ["AFFINITY", "ANTI_AFFINITY", "SPREAD", "Group", "Topology", "domain_of"]

SPREAD = "topology spread"
AFFINITY = "pod affinity"
ANTI_AFFINITY = "pod anti-affinity"

NamespaceLabels = Callable[[str], Mapping[str, str]]


def domain_of(key: str, node_name: str, labels: Mapping[str, str]) -> str | None:
    """The node's domain for ``key``; hostname falls back to the node name (Karpenter)."""
    value = labels.get(key)
    if value is None and key == HOSTNAME:
        return node_name
    return value


class Group:
    """Counts of selected pods per domain, for one rule; see the module docstring."""

    __slots__ = (
        "_selects",
        "counts",
        "id",
        "key",
        "kind",
        "max_skew",
        "min_domains",
        "namespace_selector",
        "namespaces",
        "node_filter",
        "nonzero",
        "selector",
    )

    def __init__(
        self,
        gid: int,
        kind: str,
        key: str,
        *,
        selector: LabelSelector,
        namespaces: frozenset[str],
        namespace_selector: LabelSelector | None = None,
        max_skew: int = 0,
        min_domains: int = 1,
        node_filter: tuple[Requirements, ...] | None = None,
    ) -> None:
        self.id = gid
        self.kind = kind
        self.key = key
        self.selector = selector
        self.namespaces = namespaces
        self.namespace_selector = namespace_selector
        self.max_skew = max_skew
        self.min_domains = min_domains
        self.node_filter = node_filter
        self.counts: dict[str, int] = {}
        self.nonzero = 0
        self._selects: dict[tuple[str, tuple[tuple[str, str], ...]], bool] = {}

    def selects(
        self, namespace: str, labels: Mapping[str, str], namespace_labels: NamespaceLabels
    ) -> bool:
        """The pod is in one of the group's namespaces and matches its label selector."""
        key = (namespace, tuple(sorted(labels.items())))
        found = self._selects.get(key)
        if found is None:
            in_namespace = namespace in self.namespaces or (
                self.namespace_selector is not None
                and self.namespace_selector.matches(namespace_labels(namespace))
            )
            found = in_namespace and self.selector.matches(labels)
            self._selects[key] = found
        return found

    def filter_matches_labels(self, labels: Mapping[str, str]) -> bool:
        return self.node_filter is None or any(t.satisfied_by(labels) for t in self.node_filter)

    def filter_matches(self, reqs: Requirements) -> bool:
        return self.node_filter is None or any(reqs.compatible(t) is None for t in self.node_filter)

    def register(self, domain: str) -> None:
        self.counts.setdefault(domain, 0)

    def record(self, domain: str) -> None:
        before = self.counts.get(domain, 0)
        self.counts[domain] = before + 1
        if before == 0:
            self.nonzero += 1

    def min_count(self, pod_domains: Requirement) -> int:
        if self.key == HOSTNAME:
            return 0
        counts = [c for d, c in self.counts.items() if pod_domains.has(d)]
        if not counts or len(counts) < self.min_domains:
            return 0
        return min(counts)

    def next_domains(
        self,
        self_selecting: bool,
        pod_domains: Requirement,
        node_domains: Requirement,
        *,
        pin: bool = True,
    ) -> Requirement | None:
        """The domains a pod may use on a node allowing ``node_domains``; ``None``: none.

        ``pin`` (the pod owns this anti-affinity rule) chooses one empty domain; an inverse
        rule only keeps the pod out of the occupied ones.
        """
        if self.kind == SPREAD:
            return self._next_spread(self_selecting, pod_domains, node_domains)
        if self.kind == AFFINITY:
            return self._next_affinity(self_selecting, pod_domains, node_domains)
        empty, occupied = [], False
        for domain, count in self.counts.items():
            if node_domains.has(domain):
                if count == 0 and pod_domains.has(domain):
                    empty.append(domain)
                occupied = occupied or count > 0
        if not empty:
            return None
        if not pin:
            return Requirement.create(self.key, IN, empty) if occupied else node_domains
        return Requirement.create(self.key, IN, [min(empty)])

    def _next_spread(
        self, self_selecting: bool, pod_domains: Requirement, node_domains: Requirement
    ) -> Requirement | None:
        low = self.min_count(pod_domains)
        best: tuple[int, str] | None = None
        for domain, count in self.counts.items():
            if not node_domains.has(domain):
                continue
            after = count + self_selecting
            if after - low <= self.max_skew and (best is None or (after, domain) < best):
                best = (after, domain)
        return None if best is None else Requirement.create(self.key, IN, [best[1]])

    def _next_affinity(
        self, self_selecting: bool, pod_domains: Requirement, node_domains: Requirement
    ) -> Requirement | None:
        options = [d for d, c in self.counts.items() if c > 0 and pod_domains.has(d)]
        if not options and self_selecting:
            ordered = sorted(self.counts)
            both = [d for d in ordered if pod_domains.has(d) and node_domains.has(d)]
            options = both[:1] or [d for d in ordered if pod_domains.has(d)][:1]
        options = [d for d in options if node_domains.has(d)]
        return Requirement.create(self.key, IN, options) if options else None

    def host_allows(self, self_selecting: bool, pod_domains: Requirement, host: str) -> bool:
        """Whether a pod may go to the node ``host`` (hostname groups; never enumerated)."""
        if not pod_domains.has(host):
            return False
        count = self.counts.get(host, 0)
        if self.kind == SPREAD:
            return count + self_selecting <= self.max_skew
        if self.kind == ANTI_AFFINITY:
            return count == 0
        if count > 0:
            return True
        if pod_domains.complement and not pod_domains.value_set:
            elsewhere = self.nonzero > 0  # any host: no need to look at each
        else:
            elsewhere = any(c > 0 and pod_domains.has(d) for d, c in self.counts.items())
        return self_selecting and not elsewhere

    def describe(self, pod_domains: Requirement, node_domains: Requirement) -> str:
        shown = ", ".join(f'"{d}": {c}' for d, c in sorted(self.counts.items())[:5])
        more = f" and {len(self.counts) - 5} other(s)" if len(self.counts) > 5 else ""
        return (
            f"unsatisfiable topology constraint for {self.kind}, key={self.key} "
            f"(counts = {{{shown}{more}}}, podDomains = {pod_domains}, "
            f"nodeDomains = {node_domains})"
        )


class Topology:
    """Every group of the batch, deduplicated, with the domain universe per key."""

    def __init__(
        self, universe: Callable[[str], Iterable[str]], namespace_labels: NamespaceLabels
    ) -> None:
        self._universe = universe
        self.namespace_labels = namespace_labels
        self.groups: dict[tuple[Any, ...], Group] = {}
        self.inverse: dict[tuple[Any, ...], Group] = {}
        self._bound: list[tuple[str, Mapping[str, str], str, Mapping[str, str]]] = []

    def add_bound(
        self, namespace: str, labels: Mapping[str, str], node: str, node_labels: Mapping[str, str]
    ) -> None:
        """A pod already running somewhere, counted by every group that selects it."""
        self._bound.append((namespace, labels, node, node_labels))

    def spread_group(
        self, constraint: SpreadConstraint, namespace: str, node_terms: tuple[Requirements, ...]
    ) -> Group:
        """The group of a spread constraint; ``node_terms`` are the owner's required node
        affinity terms, which filter the nodes counted when ``nodeAffinityPolicy: Honor``."""
        node_filter = None
        if constraint.honor_node_affinity and any(len(t) for t in node_terms):
            node_filter = node_terms
        identity = (
            SPREAD,
            constraint.topology_key,
            constraint.selector,
            frozenset((namespace,)),
            None,
            constraint.max_skew,
            constraint.min_domains,
            node_filter,
        )
        return self._get(self.groups, identity)

    def affinity_group(self, kind: str, term: AffinityTerm) -> Group:
        return self._get(self.groups, self._term_identity(kind, term))

    def inverse_group(self, term: AffinityTerm) -> Group:
        return self._get(self.inverse, self._term_identity(ANTI_AFFINITY, term))

    @staticmethod
    def _term_identity(kind: str, term: AffinityTerm) -> tuple[Any, ...]:
        return (
            kind,
            term.topology_key,
            term.selector,
            term.namespaces,
            term.namespace_selector,
            0,
            1,
            None,
        )

    def _get(self, table: dict[tuple[Any, ...], Group], identity: tuple[Any, ...]) -> Group:
        found = table.get(identity)
        if found is not None:
            return found
        kind, key, selector, namespaces, ns_selector, skew, min_domains, node_filter = identity
        group = Group(
            len(self.groups) + len(self.inverse),
            kind,
            key,
            selector=selector,
            namespaces=namespaces,
            namespace_selector=ns_selector,
            max_skew=skew,
            min_domains=min_domains,
            node_filter=node_filter,
        )
        if key != HOSTNAME:
            for domain in self._universe(key):
                group.register(domain)
        if table is self.groups:
            self._count_bound(group)
        table[identity] = group
        return group

    def _count_bound(self, group: Group) -> None:
        for namespace, labels, node, node_labels in self._bound:
            if not group.selects(namespace, labels, self.namespace_labels):
                continue
            domain = domain_of(group.key, node, node_labels)
            if domain is not None and group.filter_matches_labels(node_labels):
                group.record(domain)

    def selecting(
        self, groups: Iterable[Group], namespace: str, labels: Mapping[str, str]
    ) -> list[Group]:
        return [g for g in groups if g.selects(namespace, labels, self.namespace_labels)]
