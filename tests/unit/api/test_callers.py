"""Resolving a verified access key to its principal: session tokens and their expiry."""

from __future__ import annotations

import pytest

from lamina.api.callers import caller_of
from lamina.domain.iam.principals import ASSUMED_ROLE, Principal
from lamina.errors import AwsError
from lamina.identity.directory import Credential

SESSION = Principal(
    ASSUMED_ROLE, "0" * 12, "arn:aws:sts::000000000000:assumed-role/r/s", "AROA:s", "s", "arn:r"
)
CREDENTIALS = {
    "ASIAKEY": Credential("secret", SESSION, session_token="token-1", expires=1_000.0),
    "LKIAKEY": Credential("secret", SESSION),
}


def resolve(key: str, service: str = "lambda", token: str | None = None, now: float = 500.0) -> Principal:
    headers = {"x-amz-security-token": token} if token else {}
    return caller_of(CREDENTIALS.get, key, service, headers, [], now=now)


def code_of(key: str, **options: object) -> tuple[str, int]:
    with pytest.raises(AwsError) as raised:
        resolve(key, **options)  # type: ignore[arg-type]
    return raised.value.code, raised.value.status


def test_a_session_needs_its_token_before_it_expires() -> None:
    assert resolve("ASIAKEY", token="token-1") is SESSION
    assert resolve("LKIAKEY") is SESSION  # long-term keys carry no token
    assert code_of("ASIAKEY") == ("UnrecognizedClientException", 403)
    assert code_of("ASIAKEY", token="forged") == ("UnrecognizedClientException", 403)
    assert code_of("ASIAKEY", token="token-1", now=1_001.0) == ("ExpiredTokenException", 403)
    assert code_of("ASIAKEY", service="sts", token="token-1", now=1_001.0) == ("ExpiredToken", 403)
    assert code_of("UNKNOWN", service="iam") == ("InvalidClientTokenId", 403)


def test_presigned_requests_carry_the_token_in_the_query() -> None:
    principal = caller_of(
        CREDENTIALS.get, "ASIAKEY", "lambda", {}, [("X-Amz-Security-Token", "token-1")], now=1.0
    )
    assert principal is SESSION
