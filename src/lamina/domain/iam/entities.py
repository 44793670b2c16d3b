"""IAM entities as the IAM API shows them: users, access keys, roles, managed policies, sessions.

Identifiers follow AWS's shapes: 21-character ids with AIDA (user), AROA (role), ANPA (policy)
prefixes; 20-character access key ids (LKIA for Lamina's long-term keys, ASIA for temporary ones);
ARNs `arn:aws:iam::ACCOUNT:user/PATH/NAME` and so on.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

_ID_ALPHABET = string.ascii_uppercase + "234567"


def new_id(prefix: str, length: int = 21) -> str:
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length - len(prefix)))


def now() -> float:
    return datetime.now(UTC).timestamp()


def _tags(tags: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags]


def encoded_document(document: str) -> str:
    """IAM returns policy documents URL-encoded (botocore decodes them again)."""
    return quote(document, safe="")


@dataclass(frozen=True, slots=True)
class LoginProfile:
    """A user's console password (its hash is kept apart, as a secret)."""

    account: str
    user_name: str
    created: float = field(default_factory=now)
    password_reset_required: bool = False

    def to_api(self) -> dict[str, Any]:
        return {
            "UserName": self.user_name,
            "CreateDate": self.created,
            "PasswordResetRequired": self.password_reset_required,
        }


@dataclass(frozen=True, slots=True)
class User:
    account: str
    name: str
    user_id: str
    path: str = "/"
    created: float = field(default_factory=now)
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account}:user{self.path}{self.name}"

    def to_api(self) -> dict[str, Any]:
        output: dict[str, Any] = {
            "Path": self.path,
            "UserName": self.name,
            "UserId": self.user_id,
            "Arn": self.arn,
            "CreateDate": self.created,
        }
        if self.tags:
            output["Tags"] = _tags(self.tags)
        return output


@dataclass(frozen=True, slots=True)
class AccessKey:
    account: str
    user_name: str | None  # None: the account's root
    access_key_id: str
    status: str = "Active"
    created: float = field(default_factory=now)

    def to_api(self) -> dict[str, Any]:
        return {
            "UserName": self.user_name,
            "AccessKeyId": self.access_key_id,
            "Status": self.status,
            "CreateDate": self.created,
        }


@dataclass(frozen=True, slots=True)
class Role:
    account: str
    name: str
    role_id: str
    assume_role_policy: str
    path: str = "/"
    description: str = ""
    max_session_duration: int = 3600
    created: float = field(default_factory=now)
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account}:role{self.path}{self.name}"

    def to_api(self) -> dict[str, Any]:
        output: dict[str, Any] = {
            "Path": self.path,
            "RoleName": self.name,
            "RoleId": self.role_id,
            "Arn": self.arn,
            "CreateDate": self.created,
            "AssumeRolePolicyDocument": encoded_document(self.assume_role_policy),
            "MaxSessionDuration": self.max_session_duration,
        }
        if self.description:
            output["Description"] = self.description
        if self.tags:
            output["Tags"] = _tags(self.tags)
        return output


@dataclass(frozen=True, slots=True)
class ManagedPolicy:
    account: str  # "aws" for AWS managed policies
    name: str
    policy_id: str
    document: str
    path: str = "/"
    description: str = ""
    created: float = field(default_factory=now)

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account}:policy{self.path}{self.name}"

    def to_api(self, attachments: int) -> dict[str, Any]:
        output: dict[str, Any] = {
            "PolicyName": self.name,
            "PolicyId": self.policy_id,
            "Arn": self.arn,
            "Path": self.path,
            "DefaultVersionId": "v1",
            "AttachmentCount": attachments,
            "PermissionsBoundaryUsageCount": 0,
            "IsAttachable": True,
            "CreateDate": self.created,
            "UpdateDate": self.created,
        }
        if self.description:
            output["Description"] = self.description
        return output


@dataclass(frozen=True, slots=True)
class Session:
    """Temporary credentials from AssumeRole: the role, the session's name, its token and expiry."""

    account: str
    access_key_id: str
    role_name: str
    session_name: str
    token: str
    expires: float

    @property
    def arn(self) -> str:
        return f"arn:aws:sts::{self.account}:assumed-role/{self.role_name}/{self.session_name}"


def record_of(entity: Any) -> dict[str, Any]:
    return asdict(entity)


def tags_from(raw: list[dict[str, str]] | None) -> tuple[tuple[str, str], ...]:
    return tuple((tag["Key"], tag["Value"]) for tag in raw or [])
