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


ANONYMOUS_PRINCIPAL = Principal(ANONYMOUS, "", "anonymous")


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(item) for item in value]


# How a Principal element covers a principal: by name, or through its account (which delegates the
# decision to the account's own identity policies, as the account's root ARN does on AWS).
BY_NAME, BY_ACCOUNT = "name", "account"


def _names_aws(entry: str, principal: Principal) -> str | None:
    if entry == "*":
        return BY_NAME if principal.kind != SERVICE else None
    account = entry if entry.isdigit() and len(entry) == 12 else None
    if entry.startswith("arn:") and entry.endswith(":root"):
        account = entry.split(":")[4]
    if account is not None:
        if principal.account != account or principal.kind == SERVICE:
            return None
        return BY_NAME if principal.kind == ROOT else BY_ACCOUNT
    if entry == principal.arn or (principal.kind == ASSUMED_ROLE and entry == principal.role_arn):
        return BY_NAME
    return None


def names_principal(element: Any, principal: Principal) -> str | None:
    """How a Principal element (as written in the policy) covers `principal`: BY_NAME, BY_ACCOUNT,
    or None when it does not."""
    if element == "*":
        return BY_NAME
    if not isinstance(element, Mapping):
        return None
    found = None
    for kind, value in element.items():
        for entry in _listed(value):
            if kind == "AWS":
                match = _names_aws(entry, principal)
            else:
                match = (
                    BY_NAME
                    if kind == "Service" and principal.kind == SERVICE and principal.arn == entry
                    else None
                )
            if match == BY_NAME:
                return BY_NAME
            found = found or match
    return found
