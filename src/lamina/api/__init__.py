"""HTTP edge: the gateway ASGI app and one facade per AWS API."""
