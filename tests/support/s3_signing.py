"""Requests signed the way botocore signs S3 requests, for bodies botocore would never send
(tampered after signing, aws-chunked by hand, announced longer than what follows)."""

from __future__ import annotations

from typing import Any

import botocore.auth
import botocore.credentials

from tests.support.server import ACCESS_KEY, REGION, SECRET_KEY


class _FixedPayloadSigner(botocore.auth.S3SigV4Auth):
    """botocore's S3 signer, signing a payload hash given here (the streaming kinds it has no
    switch for) instead of the one it would compute."""

    def __init__(self, payload_hash: str) -> None:
        super().__init__(botocore.credentials.Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION)
        self._payload_hash = payload_hash

    def payload(self, request: Any) -> str:
        return self._payload_hash


def s3_signer(payload_hash: str | None = None) -> botocore.auth.S3SigV4Auth:
    """The signer: computing the payload hash, or signing `payload_hash` as given."""
    if payload_hash is None:
        return botocore.auth.S3SigV4Auth(
            botocore.credentials.Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION
        )
    return _FixedPayloadSigner(payload_hash)
