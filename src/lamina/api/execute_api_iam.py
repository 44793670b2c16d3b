"""IAM authorization of REST API methods (authorizationType AWS_IAM): the request must be signed
with SigV4 for the `execute-api` service, and the signer allowed `execute-api:Invoke` on the
method's ARN by its own policies or the API's resource policy. Refusals answer as API Gateway's:
unsigned 403 "Missing Authentication Token", a bad signature 403 with SigV4's message, a caller
not allowed 403 "User: … is not authorized to perform: execute-api:Invoke on resource: …"."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from lamina.api.callers import caller_of
from lamina.apigateway.execution_log import ExecutionLog
from lamina.apigateway.iam_checks import IamCheck
from lamina.apigateway.rest_endpoint import missing_token
from lamina.domain.function_urls import UrlResponse
from lamina.domain.iam.evaluation import Decision
from lamina.domain.iam.policy import resource_policy_of
from lamina.errors import AwsError
from lamina.identity.authorizer import Authorizer
from lamina.identity.directory import Credential
from lamina.protocol.sigv4 import SignedRequest, SigV4Verifier, read_credential_scope
from lamina.transport.http11 import LeanRequest

__all__ = ["execute_api_iam"]

INVOKE = "execute-api:Invoke"
SERVICE = "execute-api"


def _refusal(message_key: str, message: str, error_type: str) -> UrlResponse:
    body = json.dumps({message_key: message}).encode()
    return UrlResponse(403, [("Content-Type", "application/json"), ("x-amzn-ErrorType", error_type)], body)


def execute_api_iam(
    verifier: SigV4Verifier, credentials: Callable[[str], Credential | None], authorizer: Authorizer
) -> IamCheck:
    async def check(
        arn: str, account: str, policy_text: str | None, lean: LeanRequest, log: ExecutionLog
    ) -> tuple[UrlResponse | None, dict[str, Any]]:
        if read_credential_scope(lean.headers, lean.query_string) is None:
            return missing_token(), {}
        try:
            verified = verifier.verify(
                SignedRequest(lean.method, lean.path, lean.query_string, lean.headers, lean.body)
            )
        except AwsError as error:
            log.add(f"Authorization failed: {error.message}")
            return _refusal("message", error.message, "InvalidSignatureException"), {}
        if verified.service != SERVICE:
            message = f"Credential should be scoped to correct service: '{SERVICE}'."
            return _refusal("message", message, "InvalidSignatureException"), {}
        query = parse_qsl(lean.query_string, keep_blank_values=True)
        principal = caller_of(credentials, verified.access_key_id, SERVICE, lean.headers, query)
        policy = resource_policy_of(policy_text)
        source_ip = lean.peer[0] if lean.peer else ""
        decision = authorizer.decide(principal, INVOKE, arn, account, policy, {"aws:SourceIp": source_ip})
        if decision is not Decision.ALLOW:
            message = f"User: {principal.arn} is not authorized to perform: {INVOKE} on resource: {arn}"
            if decision is Decision.EXPLICIT_DENY:
                message += " with an explicit deny"
            log.add(message)
            return _refusal("Message", message, "AccessDeniedException"), {}
        identity = {
            "accessKey": verified.access_key_id,
            "accountId": principal.account,
            "caller": principal.user_id,
            "user": principal.user_id,
            "userArn": principal.arn,
        }
        return None, identity

    return check
