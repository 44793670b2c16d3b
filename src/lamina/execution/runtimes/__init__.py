"""Language runtimes available to functions."""
