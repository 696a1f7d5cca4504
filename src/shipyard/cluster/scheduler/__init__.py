"""kube-scheduler: filters, scores, binding, preemption.

- :mod:`.podinfo` — what the scheduler precomputes per pod (requests, priority, affinity terms).
- :mod:`.snapshot` — the incremental cache: nodes with their pods' requests, label indexes.
- :mod:`.framework` — statuses, reasons and the ``0/N nodes are available`` message.
- :mod:`.filters`, :mod:`.scores` — the default profile's plugins.
- :mod:`.profile` — one scheduling cycle (filter a share of the nodes, score, pick).
- :mod:`.index` — the per-pod-shape index that answers a resource-only cycle in O(log nodes).
- :mod:`.preemption` — DefaultPreemption's choice of victims.
- :mod:`.queue` — activeQ, backoffQ and the unschedulable pods.
- :mod:`.scheduler` — the controller that binds, reports and preempts through the Client.
"""

from shipyard.cluster.scheduler.profile import Profile, ScheduleResult
from shipyard.cluster.scheduler.scheduler import Scheduler
from shipyard.cluster.scheduler.snapshot import NodeInfo, Snapshot

__all__ = ["NodeInfo", "Profile", "ScheduleResult", "Scheduler", "Snapshot"]
