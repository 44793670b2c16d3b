"""Recursive loop detection: how many invocations deep a chain of requests has gone.

Lambda's developer guide ("Use Lambda recursive loop detection"): Lambda tracks the chain a request
belongs to through the X-Ray trace header and, with RecursiveLoop=Terminate (the default), stops
the next invocation once a function has been invoked about 16 times in the same chain. The AWS
SDKs carry the header along: botocore copies the function's `_X_AMZN_TRACE_ID` into the
`X-Amzn-Trace-Id` header of every call a function makes. Here the trace id a runtime receives
carries `Lineage=<chain>:<depth>`, so a call made from inside a function arrives one level deeper.
"""

from __future__ import annotations

import random
import re
import time

MAX_CHAIN_DEPTH = 16
ALLOW, TERMINATE = "Allow", "Terminate"
DEFAULT_RECURSIVE_LOOP = TERMINATE
_LINEAGE = re.compile(r"(?:^|;)\s*Lineage=([0-9a-f]+):(\d+)")
_ROOT = re.compile(r"(?:^|;)\s*Root=([^;]+)")


def chain_depth(trace_header: str | None) -> tuple[str | None, int]:
    """(chain id, depth) from an incoming X-Amzn-Trace-Id; (None, 0) outside any chain."""
    if not trace_header:
        return None, 0
    match = _LINEAGE.search(trace_header)
    if match is None:
        return None, 0
    return match.group(1), int(match.group(2))


def trace_for_invocation(trace_header: str | None) -> tuple[str, int]:
    """The trace id an invocation runs with, and its depth in the chain (1 for a first call).

    Trace ids identify, they protect nothing: a fast PRNG rather than system calls.
    """
    if not trace_header:  # the common case: a first call, nothing to parse
        return (
            f"Root=1-{int(time.time()):08x}-{random.getrandbits(96):024x};Parent={random.getrandbits(64):016x};"
            f"Sampled=0;Lineage={random.getrandbits(32):08x}:1",
            1,
        )
    chain, depth = chain_depth(trace_header)
    root_match = _ROOT.search(trace_header or "")
    root = (
        root_match.group(1)
        if root_match and chain
        else f"1-{int(time.time()):08x}-{random.getrandbits(96):024x}"
    )
    chain = chain or f"{random.getrandbits(32):08x}"
    depth += 1
    return f"Root={root};Parent={random.getrandbits(64):016x};Sampled=0;Lineage={chain}:{depth}", depth


def is_recursive_loop(depth: int, recursive_loop: str) -> bool:
    return recursive_loop == TERMINATE and depth > MAX_CHAIN_DEPTH
