"""Triggers: AWS services (log subscriptions, alarms; later object events, queues, topics,
schedules) invoking functions as their service principals."""
