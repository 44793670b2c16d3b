"""Who makes a request, and which principals a resource policy's Principal element names.

A Principal element names: everyone ("*" or {"AWS": "*"}); an account (its id or its root ARN),
meaning any principal of that account; a user or role ARN (a role also names its sessions); an
assumed-role session ARN; or a service ({"Service": "s3.amazonaws.com"}).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ROOT, USER, ASSUMED_ROLE, SERVICE, ANONYMOUS = "root", "user", "assumed-role", "service", "anonymous"


@dataclass(frozen=True, slots=True)
class Principal:
    kind: str  # root | user | assumed-role | service | anonymous
    account: str  # "" for services and anonymous callers
    arn: str  # the caller's ARN (a service's name for services)
    user_id: str = ""  # aws:userid
    name: str = ""  # the user name (aws:username), the role session name, or the service
    role_arn: str = ""  # assumed-role sessions: the role's ARN

    @property
    def is_root(self) -> bool:
        return self.kind == ROOT


def root_of(account: str) -> Principal:
    return Principal(ROOT, account, f"arn:aws:iam::{account}:root", account, "")


def service_principal(service: str) -> Principal:
    return Principal(SERVICE, "", service, service, service)


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(item) for item in value]


def _names_aws(entry: str, principal: Principal) -> bool:
    if entry == "*":
        return principal.kind != SERVICE
    account = entry if entry.isdigit() and len(entry) == 12 else None
    if entry.startswith("arn:") and entry.endswith(":root"):
        account = entry.split(":")[4]
    if account is not None:
        return principal.account == account and principal.kind != SERVICE
    if entry == principal.arn:
        return True
    return principal.kind == ASSUMED_ROLE and entry == principal.role_arn


def names_principal(element: Any, principal: Principal) -> bool:
    """Whether a Principal element (as written in the policy) covers `principal`."""
    if element == "*":
        return True
    if not isinstance(element, Mapping):
        return False
    for kind, value in element.items():
        entries = _listed(value)
        if kind == "AWS" and any(_names_aws(entry, principal) for entry in entries):
            return True
        if kind == "Service" and principal.kind == SERVICE and principal.arn in entries:
            return True
    return False
