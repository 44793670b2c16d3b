"""The EventBridge Scheduler API (rest-json)."""
