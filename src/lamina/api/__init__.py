"""HTTP edge: the public port, the gateway and one facade per AWS API."""
