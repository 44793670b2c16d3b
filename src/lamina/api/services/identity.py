"""The IAM and STS facades: their operation tables over the identity services.

IAM calls are authorised as `iam:<Operation>` on the user, role or policy they name. STS needs no
facade check: GetCallerIdentity is always allowed, and AssumeRole checks the role's trust policy
and the caller's policies itself."""

from __future__ import annotations

from typing import Any

from lamina.api.context import RequestContext
from lamina.api.services.service import ServiceFacade, method_table
from lamina.domain.iam.principals import Principal
from lamina.identity.authorizer import Authorizer
from lamina.identity.iam import IAM_OPERATIONS, IamService
from lamina.identity.sts import StsService
from lamina.protocol.http import WireProtocol

STS_OPERATIONS = ("GetCallerIdentity", "AssumeRole")


def _principal(context: RequestContext) -> Principal:
    return context.principal


def iam_resource(params: dict[str, Any], caller: Principal) -> str:
    """The resource an IAM call is about: the user, role or policy it names, or `*`."""
    account = caller.account
    if "PolicyArn" in params:
        return str(params["PolicyArn"])
    if "RoleName" in params:
        return f"arn:aws:iam::{account}:role/{params['RoleName']}"
    if "UserName" in params:
        return f"arn:aws:iam::{account}:user/{params['UserName']}"
    if "PolicyName" in params:  # CreatePolicy
        return f"arn:aws:iam::{account}:policy{params.get('Path') or '/'}{params['PolicyName']}"
    if "AccessKeyId" in params or caller.kind == "user":
        return caller.arn if caller.kind == "user" else "*"
    return "*"


def build_iam_facade(protocol: WireProtocol, iam: IamService, authorizer: Authorizer) -> ServiceFacade:
    async def authorize(operation: str, params: dict[str, Any], context: RequestContext) -> None:
        caller = context.principal
        if caller.is_root:
            return
        authorizer.check(
            caller, f"iam:{operation}", iam_resource(params, caller), caller.account, code="AccessDenied"
        )

    return ServiceFacade(protocol, method_table(iam, IAM_OPERATIONS, _principal), authorize)


def build_sts_facade(protocol: WireProtocol, sts: StsService) -> ServiceFacade:
    return ServiceFacade(protocol, method_table(sts, STS_OPERATIONS, _principal))
