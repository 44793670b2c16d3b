"""The SNS API (query protocol)."""
