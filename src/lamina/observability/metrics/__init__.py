"""CloudWatch metrics: the recorder every datapoint goes through, AWS/Lambda's built-in metrics,
the Embedded Metric Format in logs, the CloudWatch API and alarms."""
