"""The SQS API (json, and query for older SDKs) over the embedded queues (`sources/queues/`)."""
