"""Inbound mail: SES receipt rule sets and what their actions do with a received message."""
