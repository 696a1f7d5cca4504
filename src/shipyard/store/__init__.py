"""The API machinery: a versioned object store with Kubernetes metadata semantics."""
