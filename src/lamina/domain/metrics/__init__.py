"""CloudWatch metrics as pure values: series keys, per-period aggregates with percentile sketches,
metric math, and alarm evaluation."""
