"""The embedded SNS: topics, subscriptions, publishing and delivery to functions, queues and HTTP(S) endpoints."""
