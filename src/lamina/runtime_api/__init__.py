"""The Lambda Runtime API (2018-06-01) that execution environments pull invocations from."""
