"""S3's older signature (Amazon S3 Developer Guide, "Signing and Authenticating REST Requests",
signature version 2): `Authorization: AWS <key>:<signature>`, or a presigned URL's
`AWSAccessKeyId`, `Expires` and `Signature` query parameters.

boto3 still presigns S3 URLs this way by default in us-east-1 (`generate_presigned_url` gives
`?AWSAccessKeyId=…&Signature=…&Expires=…`), so a URL a user shares must verify here. The signed
string follows botocore's HmacV1Auth: method, Content-MD5, Content-Type, the date (or `Expires`),
the `x-amz-*` headers, and the resource (the path-style path plus the subresources S3 signs).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl

from lamina.errors import AwsError

__all__ = ["SigV2Verifier", "is_sigv2"]

# The query parameters S3 includes in the signed resource (botocore HmacV1Auth.QSAOfInterest).
_SIGNED_SUBRESOURCES = frozenset(
    {
        "accelerate", "acl", "cors", "defaultObjectAcl", "location", "logging", "partNumber", "policy",
        "requestPayment", "torrent", "versioning", "versionId", "versions", "website", "uploads",
        "uploadId", "response-content-type", "response-content-language", "response-expires",
        "response-cache-control", "response-content-disposition", "response-content-encoding",
        "delete", "lifecycle", "tagging", "restore", "storageClass", "notification", "replication",
        "analytics", "metrics", "inventory", "select", "select-type", "object-lock",
    }
)  # fmt: skip
_PRESIGNED = ("AWSAccessKeyId", "Signature", "Expires")
_MAX_SKEW_SECONDS = 900


def is_sigv2(headers: Mapping[str, str], query_string: str) -> bool:
    if headers.get("authorization", "").startswith("AWS "):
        return True
    return "AWSAccessKeyId=" in query_string and "Signature=" in query_string


@dataclass(frozen=True, slots=True)
class SigV2Request:
    method: str
    raw_path: str  # as sent
    query_string: str
    headers: Mapping[str, str]
    bucket_of_host: str | None  # the bucket a virtual-hosted request names in its Host


def _denied(message: str) -> AwsError:
    return AwsError("AccessDenied", message, 403)


def _mismatch() -> AwsError:
    return AwsError(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. Check your key "
        "and signing method.",
        403,
    )


class SigV2Verifier:
    def __init__(self, lookup_secret: Callable[[str], str | None], clock: Callable[[], float] = time.time):
        self._lookup_secret = lookup_secret
        self._clock = clock

    def verify(self, request: SigV2Request) -> str:
        """The access key id that signed `request`; raises AccessDenied, InvalidAccessKeyId or
        SignatureDoesNotMatch as S3 does."""
        query = parse_qsl(request.query_string, keep_blank_values=True)
        parameters = dict(query)
        authorization = request.headers.get("authorization", "")
        if authorization.startswith("AWS "):
            key_id, _, signature = authorization[4:].partition(":")
            date = request.headers.get("date", "")
            moment = request.headers.get("x-amz-date") or request.headers.get("date", "")
            try:
                signed_at = parsedate_to_datetime(moment).timestamp()
            except (TypeError, ValueError):
                raise _denied("AWS authentication requires a valid Date or x-amz-date header") from None
            if abs(self._clock() - signed_at) > _MAX_SKEW_SECONDS:
                raise AwsError(
                    "RequestTimeTooSkewed",
                    "The difference between the request time and the current time is too large.",
                    403,
                )
            amz = {name: value for name, value in request.headers.items() if name.startswith("x-amz-")}
        else:
            key_id, signature = parameters.get("AWSAccessKeyId", ""), parameters.get("Signature", "")
            date = parameters.get("Expires", "")
            if not date.isdigit():
                raise _denied(
                    "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"
                )
            if int(date) < self._clock():
                raise _denied("Request has expired")
            amz = {name.lower(): value for name, value in query if name.lower().startswith("x-amz-")}
            amz.update({n: v for n, v in request.headers.items() if n.startswith("x-amz-") and n not in amz})
        secret = self._lookup_secret(key_id)
        if secret is None:
            raise AwsError(
                "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", 403
            )
        text = "\n".join(
            (
                request.method.upper(),
                request.headers.get("content-md5", parameters.get("content-md5", "")).strip(),
                request.headers.get("content-type", parameters.get("content-type", "")).strip(),
                date,
            )
        )
        text += "\n" + "".join(f"{name}:{amz[name].strip()}\n" for name in sorted(amz))
        text += self._resource(request, query)
        expected = base64.b64encode(hmac.new(secret.encode(), text.encode(), hashlib.sha1).digest()).decode()
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise _mismatch()
        return key_id

    @staticmethod
    def _resource(request: SigV2Request, query: list[tuple[str, str]]) -> str:
        path = request.raw_path
        if request.bucket_of_host is not None:
            path = f"/{request.bucket_of_host}{path}"
        elif path.count("/") == 1 and len(path) > 1:
            path += "/"  # a bucket's own resource is `/bucket/` (botocore's auth_path)
        signed = sorted(
            (name, value) for name, value in query if name in _SIGNED_SUBRESOURCES and name not in _PRESIGNED
        )
        if signed:
            path += "?" + "&".join(f"{name}={value}" if value else name for name, value in signed)
        return path
