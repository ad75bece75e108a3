"""make e2e: the real Pulumi engine, providers and a real Kubernetes API server, built from the Go
module proxy."""
