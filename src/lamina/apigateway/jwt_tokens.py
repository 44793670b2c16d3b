"""JWT authorizers of HTTP APIs: a bearer token checked as API Gateway checks it ("Controlling
access to HTTP APIs with JWT authorizers") — signed (RS256/384/512 or ES256/384) by a key of the
issuer's JWKS (found through `<issuer>/.well-known/openid-configuration`), `iss` the configured
issuer, `aud` or `client_id` one of the audiences, `exp` and `nbf` current, and the route's
authorization scopes in `scope` or `scp`. The claims become `$context.authorizer.jwt.claims`."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

__all__ = ["InvalidToken", "JwtVerifier"]

JWKS_TTL_S = 3600
# An issuer that could not be read is not asked again for this long (every token would ask).
FAILED_TTL_S = 10.0
# A token naming a key the JWKS lacks re-reads it at most this often (keys rotate rarely).
REFRESH_EVERY_S = 30.0
CLOCK_SKEW_S = 0
_HASHES: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
_CURVES = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1}
# (url) → the JSON document there; raises on failure.
FetchJson = Callable[[str], Awaitable[Any]]


class InvalidToken(Exception):
    """Why a token is refused (for the log: the caller sees 401 Unauthorized)."""


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _int(segment: str) -> int:
    return int.from_bytes(_b64(segment), "big")


def _public_key(jwk: Any) -> Any:
    """The key a JWK describes; InvalidToken for one that is not a usable public key (the issuer's
    JWKS is read from the network: anything may be in it)."""
    kind = jwk.get("kty")
    try:
        if kind == "RSA":
            return rsa.RSAPublicNumbers(_int(jwk["e"]), _int(jwk["n"])).public_key()
        if kind == "EC" and jwk.get("crv") in _CURVES:
            curve = _CURVES[jwk["crv"]]()
            return ec.EllipticCurvePublicNumbers(_int(jwk["x"]), _int(jwk["y"]), curve).public_key()
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise InvalidToken(f"the issuer's key cannot be used: {error}") from None
    raise InvalidToken(f"unsupported key type {kind!r}")


def _verify(algorithm: str, key: Any, signature: bytes, signed: bytes) -> None:
    digest = _HASHES.get(algorithm[2:])
    if digest is None:
        raise InvalidToken(f"unsupported algorithm {algorithm}")
    try:
        if algorithm.startswith("RS") and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed, padding.PKCS1v15(), digest())
        elif algorithm.startswith("ES") and isinstance(key, ec.EllipticCurvePublicKey):
            half = len(signature) // 2
            der = encode_dss_signature(
                int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
            )
            key.verify(der, signed, ec.ECDSA(digest()))
        else:
            raise InvalidToken(f"algorithm {algorithm} does not fit the key")
    except InvalidSignature:
        raise InvalidToken("the signature does not verify") from None


class JwtVerifier:
    def __init__(self, fetch_json: FetchJson) -> None:
        self._fetch_json = fetch_json
        # issuer → (until, keys by kid, or the reason they could not be read, read at)
        self._jwks: dict[str, tuple[float, dict[str, Any] | str, float]] = {}
        self._reading: dict[str, asyncio.Future[None]] = {}  # one read per issuer at a time

    async def _keys(self, issuer: str, refresh: bool = False) -> dict[str, Any]:
        now = time.monotonic()
        cached = self._jwks.get(issuer)
        stale = cached is None or cached[0] <= now
        wanted = (
            refresh
            and cached is not None
            and isinstance(cached[1], dict)
            and now - cached[2] >= REFRESH_EVERY_S
        )
        if stale or wanted:
            await self._read(issuer)
            cached = self._jwks[issuer]
        assert cached is not None
        if isinstance(cached[1], str):
            raise InvalidToken(f"the issuer's keys could not be read: {cached[1]}")
        return cached[1]

    async def _read(self, issuer: str) -> None:
        """Read the issuer's JWKS once, however many requests wait for it."""
        reading = self._reading.get(issuer)
        if reading is not None:
            await asyncio.shield(reading)
            return
        reading = self._reading[issuer] = asyncio.get_running_loop().create_future()
        try:
            configuration = await self._fetch_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
            jwks = await self._fetch_json(str(configuration["jwks_uri"]))
            keys = {str(jwk.get("kid", "")): jwk for jwk in jwks["keys"] if isinstance(jwk, dict)}
            now = time.monotonic()
            self._jwks[issuer] = (now + JWKS_TTL_S, keys, now)
        except Exception as error:  # any failure to reach or read the issuer: tokens cannot be checked
            now = time.monotonic()
            self._jwks[issuer] = (now + FAILED_TTL_S, str(error) or type(error).__name__, now)
        finally:
            del self._reading[issuer]
            reading.set_result(None)

    async def claims(
        self, token: str, issuer: str, audiences: list[str], scopes: list[str]
    ) -> dict[str, Any]:
        """The token's claims when it passes every check; InvalidToken otherwise."""
        if token.lower().startswith("bearer "):
            token = token[7:].strip()
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidToken("not a JWT")
        try:
            header = json.loads(_b64(parts[0]))
            claims = json.loads(_b64(parts[1]))
            signature = _b64(parts[2])
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise InvalidToken("the token cannot be decoded") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise InvalidToken("the token cannot be decoded")
        algorithm = str(header.get("alg", ""))
        keys = await self._keys(issuer)
        kid = str(header.get("kid", ""))
        if kid not in keys:
            keys = await self._keys(issuer, refresh=True)  # the issuer may have rotated its keys
        jwk = keys.get(kid)
        if jwk is None:
            raise InvalidToken(f"no key {kid!r} in the issuer's JWKS")
        _verify(algorithm, _public_key(jwk), signature, f"{parts[0]}.{parts[1]}".encode())
        now = time.time()
        if claims.get("iss") != issuer:
            raise InvalidToken("iss is not the authorizer's issuer")
        if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] + CLOCK_SKEW_S < now:
            raise InvalidToken("the token has expired")
        if isinstance(claims.get("nbf"), (int, float)) and claims["nbf"] - CLOCK_SKEW_S > now:
            raise InvalidToken("the token is not valid yet")
        audience = claims.get("aud", claims.get("client_id"))
        given = audience if isinstance(audience, list) else [audience]
        if audiences and not any(item in audiences for item in given):
            raise InvalidToken("aud / client_id is not one of the authorizer's audiences")
        if scopes:
            granted = claims.get("scope", claims.get("scp", ""))
            held = set(granted.split() if isinstance(granted, str) else granted or [])
            if not held.intersection(scopes):
                raise InvalidToken("the token has none of the route's authorization scopes")
        return claims
