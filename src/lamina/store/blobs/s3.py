"""Code blobs in an S3-compatible store (`lamina server --code-store s3://BUCKET?endpoint=URL`):
another Lamina's buckets, MinIO, Ceph or AWS S3. Blobs are sealed as on disk (blobs/sealing.py),
so the store never holds code in the clear; a server reads them back with its code key.

`s3://BUCKET/PREFIX?endpoint=URL&region=REGION`: the bucket, an optional key prefix, the endpoint
(AWS's when left out) and its region (us-east-1). Credentials: LAMINA_CODE_STORE_ACCESS_KEY_ID and
LAMINA_CODE_STORE_SECRET_ACCESS_KEY when set, else botocore's usual chain.

Collection across servers: like the shared database's blob table, `digests` offers only blobs
stored more than GRACE_SECONDS ago (another server may have stored a package it has not yet
written the function of).
"""

from __future__ import annotations

import datetime
import os
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lamina.store.blobs.sealing import BlobSealer, check_digest_name

GRACE_SECONDS = 900
_SUFFIX = ".blob"


def parse_code_store(url: str) -> tuple[str, str, str | None, str]:
    """(bucket, key prefix, endpoint, region) of an s3:// URL."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"not an s3://BUCKET URL: {url!r}")
    query = parse_qs(parts.query)
    prefix = parts.path.strip("/")
    endpoints = query.get("endpoint") or []
    return (
        parts.netloc,
        f"{prefix}/" if prefix else "",
        endpoints[0] if endpoints else None,
        (query.get("region") or ["us-east-1"])[0],
    )


class S3BlobStore:
    def __init__(self, url: str, key: bytes, *, grace_seconds: float = GRACE_SECONDS) -> None:
        import boto3
        from botocore.config import Config

        self._bucket, self._prefix, endpoint, region = parse_code_store(url)
        self._sealer = BlobSealer(key)
        self._grace_seconds = grace_seconds
        credentials: dict[str, str] = {}
        if os.environ.get("LAMINA_CODE_STORE_ACCESS_KEY_ID"):
            credentials = {
                "aws_access_key_id": os.environ["LAMINA_CODE_STORE_ACCESS_KEY_ID"],
                "aws_secret_access_key": os.environ.get("LAMINA_CODE_STORE_SECRET_ACCESS_KEY", ""),
            }
        self._client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=region,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3, "mode": "standard"}),
            **credentials,
        )

    def _key(self, sha256_hex: str) -> str:
        check_digest_name(sha256_hex)
        return f"{self._prefix}{sha256_hex}{_SUFFIX}"

    def put(self, sha256_hex: str, data: bytes) -> None:
        self._client.put_object(
            Bucket=self._bucket, Key=self._key(sha256_hex), Body=self._sealer.seal(sha256_hex, data)
        )

    def get(self, sha256_hex: str) -> bytes:
        try:
            sealed = self._client.get_object(Bucket=self._bucket, Key=self._key(sha256_hex))["Body"].read()
        except self._client.exceptions.NoSuchKey:
            raise KeyError(sha256_hex) from None
        return self._sealer.open(sha256_hex, sealed)

    def exists(self, sha256_hex: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._client.head_object(Bucket=self._bucket, Key=self._key(sha256_hex))
        except ClientError as error:
            if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return False
            raise
        return True

    def delete(self, sha256_hex: str) -> None:
        self._client.delete_object(Bucket=self._bucket, Key=self._key(sha256_hex))

    def digests(self) -> set[str]:
        """Blobs stored longer ago than the grace."""
        cutoff = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=self._grace_seconds)
        found: set[str] = set()
        for page in self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self._bucket, Prefix=self._prefix
        ):
            for item in page.get("Contents", []):
                name = str(item["Key"])[len(self._prefix) :]
                if (
                    name.endswith(_SUFFIX)
                    and len(name) == 64 + len(_SUFFIX)
                    and item["LastModified"] <= cutoff
                ):
                    found.add(name[:64])
        return found

    def close(self) -> None:
        self._client.close()
