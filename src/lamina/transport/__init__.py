"""Lean network transports shared by the public port and the per-environment Runtime API."""
