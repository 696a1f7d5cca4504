"""A Cluster-Autoscaler baseline to compare Shipyard's node autoscaler against (not for
production).

::

    groups.py       NodeGroup (one instance type, min/max, capacity type, zones), parsing
    latency.py      LaunchModel: ASG reaction + boot + join ≈ 2-3 minutes, seeded jitter
    asg.py          AutoScalingGroup: desired capacity, launches, zone balance, replacement
    expanders.py    least-waste (default), most-pods, price, priority, random; chains
    simulation.py   what-if scheduling with the embedded scheduler's filters; drain rules
    controller.py   ClusterAutoscaler: the 10 s scan loop, scale-up, scale-down

It reproduces Cluster Autoscaler's documented behaviour on Auto Scaling groups closely enough
for a fair cost and latency comparison; each module says where it deliberately differs.
``shipyard.platform.baseline.BaselineCluster`` wires it to an embedded cluster and a cloud.
"""

from .asg import AutoScalingGroup, LaunchFailure, resolve_groups
from .controller import (
    COMPONENT,
    SCAN_KEY,
    BaselineOptions,
    ClusterAutoscaler,
    ScaleDown,
    ScaleUp,
)
from .expanders import DEFAULT_EXPANDERS, EXPANDERS, Option, choose
from .groups import ASG_TAG, GROUP_LABEL, NodeGroup, node_groups_from_list
from .latency import LaunchModel
from .simulation import (
    SAFE_TO_EVICT,
    SCALE_DOWN_DISABLED,
    TO_BE_DELETED_TAINT,
    Budgets,
    Simulator,
    pods_to_move,
    template_node,
    utilization,
)

__all__ = [
    "ASG_TAG",
    "COMPONENT",
    "DEFAULT_EXPANDERS",
    "EXPANDERS",
    "GROUP_LABEL",
    "SAFE_TO_EVICT",
    "SCALE_DOWN_DISABLED",
    "SCAN_KEY",
    "TO_BE_DELETED_TAINT",
    "AutoScalingGroup",
    "BaselineOptions",
    "Budgets",
    "ClusterAutoscaler",
    "LaunchFailure",
    "LaunchModel",
    "NodeGroup",
    "Option",
    "ScaleDown",
    "ScaleUp",
    "Simulator",
    "choose",
    "node_groups_from_list",
    "pods_to_move",
    "resolve_groups",
    "template_node",
    "utilization",
]
