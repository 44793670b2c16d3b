"""Benchmarks that start a real Lamina server and print JSON plus a table (see README: Benchmarks)."""
