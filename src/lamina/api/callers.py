"""Who signed a verified request: the principal behind its access key, with the session token
temporary credentials must carry (shared by the gateway and function URLs)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from lamina.domain.iam.principals import Principal
from lamina.errors import AwsError
from lamina.identity.directory import Credential

# Services on the query protocol name their credential errors differently.
QUERY_SERVICES = frozenset({"iam", "sts"})


def invalid_token(query_style: bool) -> AwsError:
    return AwsError(
        "InvalidClientTokenId" if query_style else "UnrecognizedClientException",
        "The security token included in the request is invalid.",
        403,
    )


def caller_of(
    credentials: Callable[[str], Credential | None],
    access_key_id: str,
    service: str,
    headers: Mapping[str, str],
    query: list[tuple[str, str]],
    now: float | None = None,
) -> Principal:
    """The principal behind a verified key; temporary credentials must come with their current
    session token, before it expires."""
    credential = credentials(access_key_id)
    query_style = service in QUERY_SERVICES
    if credential is None:
        raise invalid_token(query_style)
    if credential.session_token is not None:
        token = headers.get("x-amz-security-token") or dict(query).get("X-Amz-Security-Token")
        if token != credential.session_token:
            raise invalid_token(query_style)
        if credential.expires is not None and credential.expires < (time.time() if now is None else now):
            raise AwsError(
                "ExpiredToken" if query_style else "ExpiredTokenException",
                "The security token included in the request is expired",
                403,
            )
    return credential.principal
