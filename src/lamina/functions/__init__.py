"""Function management: the authoritative in-memory view of functions, backed by the stores."""
