"""JWT checks against an issuer whose JWKS is served by a fake fetch: bad tokens and bad keys are
InvalidToken (401), never another exception; an unreachable issuer is asked once per window."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from lamina.apigateway.jwt_tokens import InvalidToken, JwtVerifier

ISSUER = "https://issuer.example"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
NUMBERS = KEY.public_key().public_numbers()
JWK = {
    "kty": "RSA",
    "kid": "k1",
    "n": b64url(NUMBERS.n.to_bytes(256, "big")),
    "e": b64url(NUMBERS.e.to_bytes(3, "big")),
}


def token(**claims: Any) -> str:
    header = b64url(json.dumps({"alg": "RS256", "kid": "k1"}).encode())
    payload = b64url(json.dumps({"iss": ISSUER, "aud": "app", "exp": time.time() + 60, **claims}).encode())
    signature = KEY.sign(f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{header}.{payload}.{b64url(signature)}"


def verifier(keys: list[Any], calls: list[str] | None = None) -> JwtVerifier:
    async def fetch(url: str) -> Any:
        if calls is not None:
            calls.append(url)
        if url.endswith("openid-configuration"):
            return {"jwks_uri": ISSUER + "/jwks"}
        return {"keys": keys}

    return JwtVerifier(fetch)


def test_a_good_token_passes() -> None:
    claims = asyncio.run(verifier([JWK]).claims(f"Bearer {token()}", ISSUER, ["app"], []))
    assert claims["aud"] == "app"


@pytest.mark.parametrize(
    "bad",
    [
        b64url(b"[" * 30000) + "." + b64url(b"{}") + ".x",
        "a.b",
        b64url(b'"x"') + "." + b64url(b"{}") + ".x",
        "\udcff.\udcff.\udcff",
    ],
)
def test_malformed_tokens_are_invalid(bad: str) -> None:
    with pytest.raises(InvalidToken):
        asyncio.run(verifier([JWK]).claims(bad, ISSUER, [], []))


@pytest.mark.parametrize(
    "jwk",
    [
        {**JWK, "e": b64url(b"\x01")},
        {"kty": "RSA", "kid": "k1"},
        {**JWK, "n": 5},
        {"kty": "EC", "kid": "k1", "crv": "P-256", "x": "AA", "y": "AA"},
    ],
)
def test_broken_issuer_keys_are_invalid_tokens(jwk: dict[str, Any]) -> None:
    with pytest.raises(InvalidToken):
        asyncio.run(verifier([jwk]).claims(token(), ISSUER, [], []))


def test_an_issuer_that_fails_is_not_asked_again_at_once() -> None:
    calls: list[str] = []

    async def failing(url: str) -> Any:
        calls.append(url)
        raise OSError("connection refused")

    checker = JwtVerifier(failing)

    async def twice() -> None:
        for _ in range(2):
            with pytest.raises(InvalidToken):
                await checker.claims(token(), ISSUER, [], [])

    asyncio.run(twice())
    assert len(calls) == 1


def test_an_unknown_key_id_rereads_the_keys_at_most_once_in_a_while() -> None:
    calls: list[str] = []
    checker = verifier([JWK], calls)
    header = b64url(json.dumps({"alg": "RS256", "kid": "other"}).encode())
    unknown = f"{header}.{token().split('.', 1)[1]}"

    async def three() -> None:
        await checker.claims(token(), ISSUER, [], [])
        for _ in range(3):
            with pytest.raises(InvalidToken):
                await checker.claims(unknown, ISSUER, [], [])

    asyncio.run(three())
    assert len(calls) == 2  # the first read only: a refresh waits REFRESH_EVERY_S
