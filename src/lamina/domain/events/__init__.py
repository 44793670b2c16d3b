"""EventBridge's domain: event buses, rules and their targets, the events they carry, and how a
target's input is made from an event. Pure: no I/O."""
