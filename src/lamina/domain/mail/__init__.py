"""Inbound mail as SES receives it: receipt rule sets, which recipients a rule takes, and the events its actions send. Pure: no I/O."""
