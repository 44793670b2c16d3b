"""Pure Lambda domain logic: no I/O, no imports from edges or stores."""
