"""Resource-based policies of functions: the statements AddPermission writes, as AWS writes them.

Lambda API reference (AddPermission) and developer guide ("Viewing resource-based IAM policies"):
a principal given as a service name becomes {"Service": name}, an account id becomes the account's
root ARN, an ARN stays an ARN; SourceArn, SourceAccount, PrincipalOrgID, EventSourceToken,
FunctionUrlAuthType and InvokedViaFunctionUrl become conditions. A policy is at most 20 KB.
Evaluation (who may invoke) belongs to the identity-and-access layer; this module only builds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from lamina.domain.functions import new_revision_id
from lamina.domain.iam.policy import Policy, parse_policy
from lamina.errors import invalid_parameter

MAX_POLICY_BYTES = 20_480
_ACCOUNT = re.compile(r"^\d{12}$")


@dataclass(frozen=True, slots=True)
class ResourcePolicy:
    """A function's (or a version's, or an alias's) policy document and its RevisionId."""

    statements: tuple[dict[str, Any], ...] = ()
    revision_id: str = field(default_factory=new_revision_id)

    def statement(self, sid: str) -> dict[str, Any] | None:
        return next((statement for statement in self.statements if statement["Sid"] == sid), None)

    def with_statement(self, statement: dict[str, Any]) -> ResourcePolicy:
        return ResourcePolicy((*self.statements, statement))

    def without(self, sid: str) -> ResourcePolicy:
        return ResourcePolicy(tuple(statement for statement in self.statements if statement["Sid"] != sid))

    def document(self) -> str:
        """The policy as GetPolicy returns it."""
        return json.dumps(
            {"Version": "2012-10-17", "Id": "default", "Statement": list(self.statements)},
            separators=(",", ":"),
        )

    def enforced(self) -> Policy | None:
        """The policy as the authorizer evaluates it; None when it grants nothing."""
        return parse_policy(self.document(), resource_policy=True) if self.statements else None

    def dumps(self) -> str:
        return json.dumps({"statements": list(self.statements), "revision_id": self.revision_id})

    @classmethod
    def loads(cls, text: str) -> ResourcePolicy:
        record = json.loads(text)
        return cls(tuple(record["statements"]), record["revision_id"])


# A service principal, as AWS takes one in AddPermission ("s3.amazonaws.com", "elasticloadbalancing.amazonaws.com"),
# and Alexa's two, which are amazon.com names (a skill's trigger: SAM's AlexaSkill event).
_SERVICE = re.compile(r"[a-z0-9][a-z0-9.-]*\.amazonaws\.com(\.cn)?|alexa-(appkit|connectedhome)\.amazon\.com")
_PRINCIPAL_ARN = re.compile(r"arn:aws[a-zA-Z-]*:(iam|sts)::\d{12}:\S+")


def principal_of(principal: str) -> str | dict[str, str]:
    """AddPermission's Principal parameter in policy form: `*`, an account id, an IAM or STS ARN or
    a service; anything else gets AWS's refusal."""
    if principal == "*":
        return "*"
    if _ACCOUNT.match(principal):
        return {"AWS": f"arn:aws:iam::{principal}:root"}
    if _PRINCIPAL_ARN.fullmatch(principal):
        return {"AWS": principal}
    if _SERVICE.fullmatch(principal):
        return {"Service": principal}
    raise invalid_parameter("The provided principal was invalid. Please check the principal and try again.")


def permission_statement(params: dict[str, Any], resource_arn: str) -> dict[str, Any]:
    """The statement AddPermission adds for `params` (the request's members) on `resource_arn`."""
    statement: dict[str, Any] = {
        "Sid": params["StatementId"],
        "Effect": "Allow",
        "Principal": principal_of(params["Principal"]),
        "Action": params["Action"],
        "Resource": resource_arn,
    }
    string_equals: dict[str, str] = {}
    if params.get("SourceAccount"):
        string_equals["AWS:SourceAccount"] = params["SourceAccount"]
    if params.get("PrincipalOrgID"):
        string_equals["aws:PrincipalOrgID"] = params["PrincipalOrgID"]
    if params.get("EventSourceToken"):
        string_equals["lambda:EventSourceToken"] = params["EventSourceToken"]
    if params.get("FunctionUrlAuthType"):
        string_equals["lambda:FunctionUrlAuthType"] = params["FunctionUrlAuthType"]
    condition: dict[str, Any] = {}
    if string_equals:
        condition["StringEquals"] = string_equals
    if params.get("SourceArn"):
        condition["ArnLike"] = {"AWS:SourceArn": params["SourceArn"]}
    if params.get("InvokedViaFunctionUrl"):
        condition["Bool"] = {"lambda:InvokedViaFunctionUrl": "true"}
    if condition:
        statement["Condition"] = condition
    return statement
