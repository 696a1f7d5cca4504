"""Simulation: scenarios, the runner that compares node autoscaling strategies, reports.

::

    scenario.py    the YAML schema (workloads, replica schedules, HPAs on traffic curves,
                   spot interruptions, releases; NodePools or node groups), validated with
                   field paths
    runner.py      each strategy on the same scenario in virtual time: samples, pending
                   times, evictions, disruptions by reason, invariants at every stop
    report.py      deterministic report.json, the terminal table, PNG charts, an HTML page
    invariants.py  what must hold at every step (budgets, PDBs, lost pods, orphan instances)

The runner knows strategies only as :class:`~shipyard.sim.runner.Strategy` values (a build
function returning an autoscaled cluster); ``shipyard simulate`` wires Shipyard's
Karpenter-style autoscaler and the Cluster-Autoscaler baseline to it, since this layer sits
below ``shipyard.platform``.
"""
