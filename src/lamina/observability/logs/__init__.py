"""The CloudWatch Logs API (json protocol): groups, streams, events, searches, retention and
subscription filters, per account."""
