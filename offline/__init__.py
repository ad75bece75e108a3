"""Everything that runs without a cluster: the render under the mock runtime, its checks, and make
bench."""
