"""The rest-xml wire protocol (S3) from a botocore model.

Members travel as in rest-json (`rest_bindings.py`: URI labels, query parameters, headers, a
payload member); documents are XML (`xml_values.py`). A streaming blob payload (PutObject's and
GetObject's `Body`) is never held whole: on input it is the request's body reader, on output an
async iterator sent with its Content-Length. Errors are S3's `<Error><Code/><Message/>…</Error>`
with `x-amz-request-id`; botocore's RestXMLParser reads the code from there (a HEAD answer has no
body, and botocore then uses the status code, as with S3).

Routing is S3's own (`s3_routing.py`): no operation name travels on the wire.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Mapping
from typing import Any

from botocore.model import OperationModel, ServiceModel

from lamina.errors import AwsError
from lamina.protocol.http import HttpRequest, HttpResponse
from lamina.protocol.rest_bindings import Plan, decode_bindings, encode_headers, plan_for
from lamina.protocol.s3_routing import NOT_IMPLEMENTED, InvalidUri, S3Router
from lamina.protocol.sigv4 import ExpiredSignature
from lamina.protocol.validation import validate
from lamina.protocol.xml_values import decode_document, encode_document, escape

__all__ = ["RestXmlProtocol", "not_implemented", "s3_error"]

_XML_CONTENT_TYPE = "application/xml"
_BLOB_CONTENT_TYPE = "binary/octet-stream"  # S3's default for objects stored without a type
_BODYLESS_STATUSES = frozenset({204, 304})
# S3's response documents are named after what they hold, not after the operation's output shape.
_ROOT_ELEMENTS = {
    "ListBuckets": "ListAllMyBucketsResult",
    "ListObjects": "ListBucketResult",
    "ListObjectsV2": "ListBucketResult",
    "CreateMultipartUpload": "InitiateMultipartUploadResult",
    "CompleteMultipartUpload": "CompleteMultipartUploadResult",
    "ListParts": "ListPartsResult",
    "ListMultipartUploads": "ListMultipartUploadsResult",
    "DeleteObjects": "DeleteResult",
    "GetBucketLocation": "LocationConstraint",
    "GetBucketNotificationConfiguration": "NotificationConfiguration",
    "GetBucketVersioning": "VersioningConfiguration",
    "GetBucketTagging": "Tagging",
    "GetObjectTagging": "Tagging",
    "GetBucketAcl": "AccessControlPolicy",
    "GetObjectAcl": "AccessControlPolicy",
}


# Operations whose answer is one element holding the value as text (botocore reads its root text).
_TEXT_ROOTS = {"GetBucketLocation": "LocationConstraint"}
# Errors raised before S3 itself sees a request (signature checks, the edge's size limit), in the
# codes and messages S3 uses for them.
_S3_ERRORS = {
    "UnrecognizedClientException": (
        "InvalidAccessKeyId",
        "The AWS Access Key Id you provided does not exist in our records.",
        403,
    ),
    "IncompleteSignatureException": ("AuthorizationHeaderMalformed", None, 400),
    "MissingAuthenticationTokenException": ("AccessDenied", "Access Denied", 403),
    "RequestEntityTooLargeException": (
        "EntityTooLarge",
        "Your proposed upload exceeds the maximum allowed size",
        400,
    ),
    "InvalidRegion": ("AuthorizationHeaderMalformed", None, 400),
}


def s3_error(error: AwsError) -> AwsError:
    """`error` as S3 would name it (signature errors have codes of their own there)."""
    if error.code == "InvalidSignatureException":
        if isinstance(error, ExpiredSignature) and error.presigned:
            return AwsError("AccessDenied", "Request has expired", 403)
        if isinstance(error, ExpiredSignature):
            return AwsError(
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
                403,
            )
        return AwsError("SignatureDoesNotMatch", error.message, 403)
    translated = _S3_ERRORS.get(error.code)
    if translated is None:
        return error
    code, message, status = translated
    return AwsError(code, message or error.message, status, headers=error.headers)


def not_implemented() -> AwsError:
    return AwsError(
        "NotImplemented", "A header you provided implies functionality that is not implemented", 501
    )


class RestXmlProtocol:
    """Routes, decodes and encodes S3 requests; build once, share, CPU-only."""

    def __init__(self, service_model: ServiceModel, router: S3Router) -> None:
        self._service_model = service_model
        self._router = router
        self._namespace = service_model.metadata.get(
            "xmlNamespace", "http://s3.amazonaws.com/doc/2006-03-01/"
        )
        self._operations = {
            name: service_model.operation_model(name) for name in service_model.operation_names
        }
        self._input_plans: dict[str, Plan] = {}
        self._output_plans: dict[str, Plan] = {}

    @property
    def router(self) -> S3Router:
        return self._router

    # ----------------------------------------------------------------------- routing

    def match(
        self, method: str, raw_path: str, query: list[tuple[str, str]] | None = None
    ) -> tuple[OperationModel, dict[str, str]] | None:
        return self.match_request(HttpRequest(method, raw_path, query or [], {}, b""))

    def match_request(self, request: HttpRequest) -> tuple[OperationModel, dict[str, str]] | None:
        """The operation and its labels (`Bucket`, `Key`); raises NotImplemented for an S3
        subresource Lamina does not serve."""
        try:
            address = self._router.address(request.raw_path, request.headers)
        except InvalidUri:
            raise AwsError("InvalidURI", "Couldn't parse the specified URI.", 400) from None
        name = self._router.operation(request.method.upper(), address, request.query, request.headers)
        if name is None:
            return None
        if name == NOT_IMPLEMENTED or name not in self._operations:
            raise not_implemented()
        labels = {}
        if address.bucket is not None:
            labels["Bucket"] = address.bucket
        if address.key is not None:
            labels["Key"] = address.key
        return self._operations[name], labels

    # ----------------------------------------------------------------------- requests

    def parse(
        self, operation: OperationModel, labels: dict[str, str], request: HttpRequest
    ) -> dict[str, Any]:
        """Input params keyed by member name. A streaming payload is the request's body reader
        (or its bytes when the edge buffered it); validation leaves it alone."""
        plan = self._input_plans.get(operation.name)
        if plan is None:
            plan = self._input_plans[operation.name] = plan_for(operation.input_shape, lower_headers=True)
        if plan.shape is None:
            return {}
        try:
            params = decode_bindings(plan, labels, request)
        except AwsError as error:  # S3 has no SerializationException: a bad value is an argument
            raise AwsError("InvalidArgument", error.message, 400) from None
        streamed: tuple[str, Any] | None = None
        payload = plan.payload
        if payload is not None:
            if payload.shape.type_name == "blob":
                body: Any = request.stream if request.stream is not None else request.body
                streamed = (payload.name, body)
            elif payload.shape.type_name == "string":
                if request.body:
                    try:
                        params[payload.name] = request.body.decode("utf-8")
                    except UnicodeDecodeError:
                        raise AwsError(
                            "InvalidArgument", "The request body is not UTF-8 text.", 400
                        ) from None
            elif request.body:
                params[payload.name] = decode_document(payload.shape, request.body)
            elif plan.payload_required:
                raise AwsError("MissingRequestBodyError", "Request Body is empty", 400)
        elif plan.body and request.body:
            document = decode_document(plan.shape, request.body)
            for member in plan.body:
                if member.name in document:
                    params[member.name] = document[member.name]
        try:
            validate(plan.shape, params)
        except AwsError as error:
            raise AwsError("InvalidArgument", error.message, 400) from None
        if streamed is not None:
            params[streamed[0]] = streamed[1]
        return params

    # ----------------------------------------------------------------------- responses

    def serialize(
        self,
        operation: OperationModel,
        output: Mapping[str, Any],
        *,
        status: int | None = None,
        request_id: str | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> HttpResponse:
        """The response for `output`. A `Content-Length` output member (GetObject, HeadObject)
        becomes the response's declared length; a streaming payload may be bytes or an async
        iterator of bytes."""
        plan = self._output_plans.get(operation.name)
        if plan is None:
            plan = self._output_plans[operation.name] = plan_for(operation.output_shape, lower_headers=False)
        response_headers = encode_headers(plan, output)
        length: int | None = None
        kept: list[tuple[str, str]] = []
        for name, text in response_headers:
            if name.lower() == "content-length":
                length = int(text)
            else:
                kept.append((name, text))
        response_headers = kept
        body = b""
        stream: AsyncIterator[bytes] | None = None
        content_type: str | None = None
        payload = plan.payload
        text_root = _TEXT_ROOTS.get(operation.name)
        if text_root is not None:
            value_text = output.get(text_root)
            inner = escape(str(value_text)) if value_text is not None else ""
            body = (
                f'<?xml version="1.0" encoding="UTF-8"?>\n'
                f'<{text_root} xmlns="{self._namespace}">{inner}</{text_root}>'
            ).encode()
            content_type = _XML_CONTENT_TYPE
        elif payload is not None:
            value: Any = output.get(payload.name)
            if payload.shape.type_name == "string":
                if value is not None:
                    body = str(value).encode()
                    content_type = "application/json"
            elif payload.shape.type_name == "blob":
                if isinstance(value, bytes | bytearray):
                    body = bytes(value)
                    length = None
                elif value is not None:
                    stream = value
                content_type = _BLOB_CONTENT_TYPE
            elif value is not None:
                root = payload.shape.serialization.get("name", payload.wire_name)
                body = encode_document(root, payload.shape, value, self._namespace)
                content_type = _XML_CONTENT_TYPE
        elif plan.body:
            root = _ROOT_ELEMENTS.get(operation.name, operation.name + "Result")
            assert plan.shape is not None
            body = encode_document(root, plan.shape, output, self._namespace)
            content_type = _XML_CONTENT_TYPE
        if status is None:
            status = int(operation.http.get("responseCode", 200))
        result: list[tuple[str, str]] = []
        if status in _BODYLESS_STATUSES:
            body, stream, length = b"", None, None
        elif content_type is not None and not any(
            name.lower() == "content-type" for name, _ in response_headers
        ):
            result.append(("Content-Type", content_type))
        result.extend(_request_headers(request_id))
        result.extend(response_headers)
        if headers:
            replaced = {name.lower() for name, _ in headers}
            result = [(name, value) for name, value in result if name.lower() not in replaced]
            result.extend(headers)
        return HttpResponse(status, result, body, stream, length)

    def serialize_error(self, error: AwsError, request_id: str) -> HttpResponse:
        """S3's error document: Code, Message, the error's extra fields (BucketName, Key,
        Region …), RequestId and HostId."""
        error = s3_error(error)
        extra = "".join(
            f"<{escape(str(name))}>{escape(str(value))}</{escape(str(name))}>"
            for name, value in error.extra.items()
            if value is not None
        )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(error.code)}</Code><Message>{escape(error.message)}</Message>"
            f"{extra}<RequestId>{escape(request_id)}</RequestId>"
            f"<HostId>{escape(_host_id(request_id))}</HostId></Error>"
        ).encode()
        headers = [("Content-Type", _XML_CONTENT_TYPE), *_request_headers(request_id), *error.headers.items()]
        return HttpResponse(error.status, headers, body)


def _host_id(request_id: str) -> str:
    return secrets.token_urlsafe(24) if not request_id else request_id.replace("-", "")


def _request_headers(request_id: str | None) -> list[tuple[str, str]]:
    if request_id is None:
        return []
    return [("x-amz-request-id", request_id), ("x-amz-id-2", _host_id(request_id))]
