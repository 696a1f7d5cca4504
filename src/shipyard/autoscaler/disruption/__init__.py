"""Disruption: nodes that are empty, underutilized or drifted go, within budgets (issue 5).

Karpenter's documented disruption, built as small parts around one controller::

    types.py          Candidate, Command, BudgetMap, the DisruptionMethod and Rescheduler
                      protocols every method speaks
    state.py          one read of the cluster per pass (pools with their instance types)
    candidates.py     which nodes may be disrupted (do-not-disrupt, PDBs, nominations), their
                      disruption cost; ConsolidationMarker keeps the Consolidatable condition
    budgets.py        NodePool budgets: counts, percentages, reasons, cron schedules
    simulation.py     "where would these pods go?" with the provisioning scheduler
    emptiness.py      Emptiness: delete empty consolidatable nodes
    consolidation.py  MultiNodeConsolidation, SingleNodeConsolidation: delete, or replace
                      with one cheaper node
    validation.py     re-check a decision after 15 s
    controller.py     DisruptionController: the pass, validation and execution
    drift.py, expiration.py   drift detection and method, expiration (built beside these)

Wiring (in ``platform``)::

    manager.add(ConsolidationMarker(client))
    controller = DisruptionController(
        client, cloud, provisioner=provisioner,
        methods=lambda r: standard_methods(r, drift=Drift(r)),
    )
    manager.add(controller)
"""

from shipyard.autoscaler.disruption.budgets import (
    PoolCounts,
    allowed_disruptions,
    budget_active,
    budget_map,
)
from shipyard.autoscaler.disruption.candidates import (
    CONSOLIDATABLE,
    ConsolidationMarker,
    build_candidates,
)
from shipyard.autoscaler.disruption.consolidation import (
    MultiNodeConsolidation,
    SingleNodeConsolidation,
    evaluate,
)
from shipyard.autoscaler.disruption.controller import (
    DISRUPTION_REASON,
    DisruptionController,
    DisruptionOptions,
    standard_methods,
)
from shipyard.autoscaler.disruption.emptiness import Emptiness
from shipyard.autoscaler.disruption.simulation import CurrentSimulation, SchedulingSimulation
from shipyard.autoscaler.disruption.state import ClusterState, read_state
from shipyard.autoscaler.disruption.types import (
    DRIFTED,
    EMPTY,
    EXPIRED,
    FORCEFUL_REASONS,
    INTERRUPTED,
    UNDERUTILIZED,
    BudgetMap,
    Candidate,
    Command,
    DisruptionMethod,
    Rescheduler,
)
from shipyard.autoscaler.disruption.validation import VALIDATION_PERIOD, validate

__all__ = [
    "CONSOLIDATABLE",
    "DISRUPTION_REASON",
    "DRIFTED",
    "EMPTY",
    "EXPIRED",
    "FORCEFUL_REASONS",
    "INTERRUPTED",
    "UNDERUTILIZED",
    "VALIDATION_PERIOD",
    "BudgetMap",
    "Candidate",
    "ClusterState",
    "Command",
    "ConsolidationMarker",
    "CurrentSimulation",
    "DisruptionController",
    "DisruptionMethod",
    "DisruptionOptions",
    "Emptiness",
    "MultiNodeConsolidation",
    "PoolCounts",
    "Rescheduler",
    "SchedulingSimulation",
    "SingleNodeConsolidation",
    "allowed_disruptions",
    "budget_active",
    "budget_map",
    "build_candidates",
    "evaluate",
    "read_state",
    "standard_methods",
    "validate",
]
