"""kube-scheduler: filters, scores, binding, preemption."""
