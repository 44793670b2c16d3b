"""IAM policy documents and their evaluation: pure, no I/O (see evaluation.py for the entry point)."""
