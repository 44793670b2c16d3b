"""AWS API facades: decode (protocol layer) → call a service → encode."""
