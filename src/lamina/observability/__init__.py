"""Observability: the CloudWatch Logs API over the log store; later metrics, alarms and billing."""
