"""How far a function's configuration may go: AWS's limits unless the operator raised them.

Lambda caps Timeout at 900 s, MemorySize and EphemeralStorage at 10,240 MB and a synchronous
payload (request or response) at 6 MB. A self-hosted server may give more: `lamina server
--max-timeout/--max-memory/--max-ephemeral-storage/--max-payload` for every account, and
`lamina admin limits` for one account (an operator giving one team more, or less). Without
either, every check refuses exactly as AWS does, with AWS's message.

`LAMINA_CPUS` (a function's CPU share chosen apart from its memory) is bounded by `max_cpus`, the
host's cores unless the operator says otherwise.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, fields, replace
from typing import Any

from lamina.errors import invalid_parameter

MIN_MEMORY_MB, AWS_MAX_MEMORY_MB = 128, 10240
MIN_TIMEOUT_S, AWS_MAX_TIMEOUT_S = 1, 900
MIN_EPHEMERAL_MB, AWS_MAX_EPHEMERAL_MB = 512, 10240
AWS_MAX_PAYLOAD_BYTES = 6_291_456  # 6 MB: "Request must be smaller than 6291456 bytes"
# What a runtime may answer beyond the payload: AWS's response cap is 6,291,556 bytes.
RESPONSE_ALLOWANCE_BYTES = 100
# What an operator may set, in the units of the CLI and the admin API (payload in MB), so that a
# typo cannot ask for a year-long timeout or a petabyte.
SETTABLE_RANGES: dict[str, tuple[float, float]] = {
    "max_timeout_s": (MIN_TIMEOUT_S, 7 * 24 * 3600),
    "max_memory_mb": (MIN_MEMORY_MB, 4 * 1024 * 1024),
    "max_ephemeral_mb": (MIN_EPHEMERAL_MB, 4 * 1024 * 1024),
    "max_payload_bytes": (1, 1024),
    "max_cpus": (0.01, 1024),
}
# The names of the admin API's and the CLI's fields, and the unit each counts in.
FIELD_NAMES = {
    "max_timeout_s": ("MaxTimeout", "seconds"),
    "max_memory_mb": ("MaxMemory", "MB"),
    "max_ephemeral_mb": ("MaxEphemeralStorage", "MB"),
    "max_payload_bytes": ("MaxPayload", "MB"),
    "max_cpus": ("MaxCpus", "CPUs"),
}
CPUS_VARIABLE = "LAMINA_CPUS"
_DECIMAL = re.compile(r"[0-9]{1,6}(?:\.[0-9]{0,6})?|\.[0-9]{1,6}")


def host_cpus() -> float:
    """The cores this process may run on: a function asks for at most all of them by default."""
    try:
        return float(len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return float(os.cpu_count() or 1)


@dataclass(frozen=True, slots=True)
class FunctionLimits:
    max_timeout_s: int = AWS_MAX_TIMEOUT_S
    max_memory_mb: int = AWS_MAX_MEMORY_MB
    max_ephemeral_mb: int = AWS_MAX_EPHEMERAL_MB
    max_payload_bytes: int = AWS_MAX_PAYLOAD_BYTES
    max_cpus: float | None = None  # None: the host's cores

    @property
    def max_response_bytes(self) -> int:
        return self.max_payload_bytes + RESPONSE_ALLOWANCE_BYTES

    @property
    def cpu_ceiling(self) -> float:
        return self.max_cpus if self.max_cpus is not None else host_cpus()

    def check_memory(self, memory_size: int) -> int:
        return _within("memorySize", memory_size, MIN_MEMORY_MB, self.max_memory_mb)

    def check_timeout(self, timeout: int) -> int:
        return _within("timeout", timeout, MIN_TIMEOUT_S, self.max_timeout_s)

    def check_ephemeral_storage(self, size_mb: int) -> int:
        return _within("ephemeralStorage.size", size_mb, MIN_EPHEMERAL_MB, self.max_ephemeral_mb)

    def check_cpus(self, variables: dict[str, str]) -> float | None:
        """The CPU share `LAMINA_CPUS` asks for (None: AWS's, in proportion to memory)."""
        value = variables.get(CPUS_VARIABLE)
        if value is None:
            return None
        cpus = parse_cpus(value)
        ceiling = self.cpu_ceiling
        if cpus is None or not 0.01 <= cpus <= ceiling:
            raise invalid_parameter(
                f"{CPUS_VARIABLE} must be a number of CPUs from 0.01 to {ceiling:g} "
                f"(this server's maximum), not '{value}'."
            )
        return cpus

    def overridden(self, overrides: dict[str, Any]) -> FunctionLimits:
        """These limits with an account's own (fields of this class; absent ones unchanged)."""
        known = {field.name for field in fields(self)}
        return replace(self, **{key: value for key, value in overrides.items() if key in known})


def parse_cpus(value: str) -> float | None:
    """A CPU count as `LAMINA_CPUS` writes it ("0.25", "4", in ASCII decimals); None otherwise."""
    text = value.strip(" ")
    return float(text) if _DECIMAL.fullmatch(text) else None


def function_cpus(variables: dict[str, str]) -> float | None:
    """The share an accepted configuration asked for (validated when it was written)."""
    value = variables.get(CPUS_VARIABLE)
    return parse_cpus(value) if value is not None else None


def _within(member: str, value: int, minimum: int, maximum: int) -> int:
    if not minimum <= value <= maximum:
        raise invalid_parameter(
            f"'{value}' at '{member}' failed to satisfy constraint: "
            f"Member must have value between {minimum} and {maximum}"
        )
    return value


def limits_from_document(document: object) -> dict[str, Any]:
    """An account's limits from the admin API's JSON (`{"MaxTimeout": 7200, "MaxMemory": 65536,
    "MaxPayload": 64}`, payload in MB as on the command line); ValueError says what is wrong."""
    if not isinstance(document, dict):
        raise ValueError("The body must be a JSON object.")
    by_name = {name: key for key, (name, _) in FIELD_NAMES.items()}
    unknown = sorted(set(document) - set(by_name))
    if unknown:
        raise ValueError(
            f"Unknown limits: {', '.join(map(str, unknown))}; known: {', '.join(sorted(by_name))}."
        )
    overrides: dict[str, Any] = {}
    for name, value in document.items():
        key = by_name[name]
        if value is None:
            continue
        whole = key != "max_cpus"
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if (
            not number
            or (isinstance(value, float) and not math.isfinite(value))
            or (whole and isinstance(value, float) and not value.is_integer())
        ):
            raise ValueError(f"{name} must be a {'whole ' if whole else ''}number, not {_shown(value)}.")
        floor, ceiling = SETTABLE_RANGES[key]
        if not floor <= value <= ceiling:  # compared as given: a huge number is never converted
            _, unit = FIELD_NAMES[key]
            raise ValueError(f"{name} must be from {_plain(floor)} to {_plain(ceiling)} {unit}.")
        if key == "max_payload_bytes":
            overrides[key] = int(value) * 1024 * 1024
        else:
            overrides[key] = int(value) if whole else float(value)
    return overrides


def _plain(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _shown(value: object) -> str:
    """A refused value as a message may quote it: short, whatever was sent."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**18:
        return "a number that large"
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def limits_document(overrides: dict[str, Any]) -> dict[str, Any]:
    """The admin API's JSON of an account's own limits (payload in MB)."""
    document: dict[str, Any] = {}
    for key, value in overrides.items():
        name, _ = FIELD_NAMES[key]
        document[name] = value // (1024 * 1024) if key == "max_payload_bytes" else value
    return document
