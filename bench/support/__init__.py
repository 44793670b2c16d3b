"""Shared pieces of the benchmarks: a lean HTTP client, SigV4 signing, load generation, /proc readers."""
