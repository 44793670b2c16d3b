"""What the HTTP edge needs to know of S3 before a request's body arrives: whether to stream it.

Object uploads (PutObject, UploadPart) may be gigabytes, so their bodies go to the handler as they
arrive (`transport/body_stream.py`); every other request, S3's small XML documents included, is
buffered as usual. Decided from the head alone: the signature's service (or S3's older signature)
and S3's own routing.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from lamina.apigateway.endpoint import api_target
from lamina.protocol.s3_routing import InvalidUri, S3Router
from lamina.protocol.sigv2 import is_sigv2
from lamina.protocol.sigv4 import read_credential_scope
from lamina.transport.http11 import StreamsBody
from lamina.transport.messages import LeanRequest

_STREAMED_OPERATIONS = frozenset({"PutObject", "UploadPart"})


def s3_upload_streams(router: S3Router) -> StreamsBody:
    def streams(lean: LeanRequest) -> bool:
        if lean.method != "PUT" or lean.path.startswith("/_lamina/") or api_target(lean) is not None:
            return False
        headers = lean.headers
        if not is_sigv2(headers, lean.query_string):
            scope = read_credential_scope(headers, lean.query_string)
            if scope is None or scope.service != "s3":
                return False
        query = parse_qsl(lean.query_string, keep_blank_values=True) if lean.query_string else []
        try:
            address = router.address(lean.path, headers)
        except InvalidUri:
            return False  # answered InvalidURI once read, as any request with such a path
        return router.operation("PUT", address, query, headers) in _STREAMED_OPERATIONS

    return streams
