"""Embedded AWS-compatible services that produce events: buckets (S3) first; queues, topics,
event buses, schedules and inbound mail follow. Each is a service over its store ports, invoking
functions through `triggers/`."""
