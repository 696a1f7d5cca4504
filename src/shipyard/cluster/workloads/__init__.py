"""Workload controllers: Deployment, ReplicaSet, DaemonSet, Job, HorizontalPodAutoscaler."""
