"""How one execution environment is confined."""
