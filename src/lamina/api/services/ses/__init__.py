"""The SES API (query protocol): receipt rule sets and rules, for inbound mail."""
