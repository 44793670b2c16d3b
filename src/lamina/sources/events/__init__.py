"""The embedded EventBridge: buses, rules, targets and events."""
