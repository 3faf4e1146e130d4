"""Faithful doubles of what cannot run here (a Kubernetes API server, a vLLM engine), shared by tests and benchmarks."""
