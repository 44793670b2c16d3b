"""Running functions: invocation service, environment pool, backends, sandboxes and runtimes."""
