"""Cloud providers behind the CloudProvider seam: real EC2 instance data, a fake, a simulation.

::

    provider.py      the seam: InstanceType, Offering, LaunchRequest, Instance, Interruption,
                     CloudProvider (Protocol), CreateError / InsufficientCapacityError
    specs.py         data/instance_types.csv + vpc_limits.csv → InstanceTypeSpec (loaded once)
    sizing.py        capacity and kubelet overhead: Karpenter's AWS formulas, node-class overrides
    pricing.py       on-demand prices, the seeded spot model, reservations, hidden capacity
    unavailable.py   offerings that recently ran out of capacity (TTL cache on the clock)
    catalog.py       Catalog: specs + sizing + labels + offerings → InstanceType, cached
    selection.py     select_offering: the launch decision both providers share
    account.py       simulated AMIs, subnets, security groups; selector terms; drift
    simulated.py     SimulatedCloud: latency, lifecycle, cost, interruptions
    fake.py          FakeCloud: records calls, injects errors, launches instantly

Import from the modules themselves (``from shipyard.cloud.simulated import SimulatedCloud``);
this package module stays empty so that importing the seam does not load the data.
"""
