"""Admission for the built-in kinds: Kubernetes' defaults and validation, field path by field path.

The store runs, for every create, update and patch, ``info.default(obj)`` then
``info.validate(obj, old)`` of the object's :class:`~shipyard.store.scheme.KindInfo`; the
functions behind them live here, one module per API group, and are wired into the scheme by
:func:`shipyard.store.kinds.builtin_scheme`.

Layout::

    schema.py        the declarative walk: Obj/ListOf/MapOf/Str/Int/Qty/Enum…, messages
    formats.py       string syntaxes (DNS names, port names, percentages…) with k8s messages
    meta.py          ObjectMeta, labels, annotations, label selectors
    containers.py    containers: ports, env, resources, probes, security contexts
    volumes.py       pod volumes and the PersistentVolumeClaim spec
    placement.py     affinity, tolerations, taints, topology spread constraints
    pods.py          the PodSpec and pod templates
    pod_defaults.py  PodSpec and Pod defaults, QoS class
    core.py          core/v1          apps.py         apps/v1
    batch.py         batch/v1         policy.py       policy/v1
    autoscaling.py   autoscaling/v2   scheduling.py   scheduling.k8s.io/v1
    discovery.py     discovery.k8s.io/v1
    coordination.py  coordination.k8s.io/v1
    events.py        events.k8s.io/v1

Why a hand-written walk rather than models: admission is on the store's hot path (creating
10,000 pods must take well under a second, defaulting and validation included), every
problem must be reported at once with its path, and any JSON value must produce errors, not
exceptions. A schema tree built once at import and walked with precompiled regular
expressions does all three; see :mod:`.schema` for the conventions.
"""

from __future__ import annotations

from shipyard.store.validation.schema import Schema, Validator, validator

__all__ = ["Schema", "Validator", "validator"]
