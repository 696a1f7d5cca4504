"""The kubelet: node registration and heartbeats, pod lifecycle, probes; container runtimes."""
