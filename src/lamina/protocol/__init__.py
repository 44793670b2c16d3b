"""The AWS wire layer: routing, decoding and encoding driven by botocore's service models.

`load_service_model` reads a model once; `create_protocol` returns the `WireProtocol` it
declares (rest-json today). The server turns its requests into `HttpRequest`, calls
`match` → `parse` → handler → `serialize` (or `serialize_error` for an `AwsError`), and
writes the `HttpResponse` back.
"""

from lamina.protocol.http import HttpRequest, HttpResponse, WireProtocol
from lamina.protocol.model import LAMBDA_API_VERSION, create_protocol, load_service_model

__all__ = [
    "LAMBDA_API_VERSION",
    "HttpRequest",
    "HttpResponse",
    "WireProtocol",
    "create_protocol",
    "load_service_model",
]
