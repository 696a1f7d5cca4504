"""The bottom layer: objects, quantities, selectors, requirements, taints, durations, clock, errors.

Nothing here imports from any other Shipyard package.
"""
