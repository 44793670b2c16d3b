"""What belongs to what in the metadata store's tables, for every adapter: deleting a function, a
version or an alias deletes these with it (the tables key a function as `name`, a version or an
alias as `qualifier`)."""

from __future__ import annotations

# Settings kept per version or alias: they go when their version or alias goes.
PER_QUALIFIER_TABLES = (
    "provisioned_concurrency",
    "resource_policies",
    "event_invoke_configs",
    "function_urls",
)

# Everything that belongs to a function besides its own row.
FUNCTION_TABLES = (
    *PER_QUALIFIER_TABLES,
    "aliases",
    "reserved_concurrency",
    "function_tags",
    "recursion_configs",
    "function_versions",
)
