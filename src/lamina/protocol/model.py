"""Service models from botocore's bundled data, loaded once per process.

botocore ships the same JSON models the SDKs use, so routing, decoding and encoding
follow exactly what boto3 and the aws CLI send and expect. Loading a model reads and
parses a large JSON file (tens of milliseconds), hence the cache: call these at start-up,
never on the request path.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import botocore.loaders
import botocore.model

if TYPE_CHECKING:
    from lamina.protocol.http import WireProtocol

__all__ = ["LAMBDA_API_VERSION", "create_protocol", "load_service_model"]

# AWS Lambda API reference: every current operation lives in the 2015-03-31 model, even
# those whose URIs carry a later date prefix (e.g. /2021-10-31/functions/{name}/url).
LAMBDA_API_VERSION = "2015-03-31"


@functools.cache
def _loader() -> botocore.loaders.Loader:
    return botocore.loaders.create_loader()


@functools.cache
def load_service_model(service_name: str, api_version: str | None = None) -> botocore.model.ServiceModel:
    """Return botocore's model for `service_name` (latest API version unless given).

    The result is cached and shared: treat it as read-only.
    """
    data = _loader().load_service_model(service_name, "service-2", api_version=api_version)
    return botocore.model.ServiceModel(data, service_name=service_name)


def create_protocol(
    service_model: botocore.model.ServiceModel,
    enum_overrides: Mapping[str, Sequence[str]] | None = None,
    *,
    json_options: Mapping[str, str] | None = None,
) -> WireProtocol:
    """Build the wire protocol implementation a service model declares.

    `enum_overrides` replaces the model's allowed values for the named shapes; `json_options` are
    keyword options of the json protocol (e.g. validation_error_code). Raises
    `NotImplementedError` for protocols Lamina does not speak yet.
    """
    protocol = service_model.protocol
    if protocol == "rest-json":
        from lamina.protocol.rest_json import RestJsonProtocol

        return RestJsonProtocol(service_model, enum_overrides)
    if protocol == "query":
        from lamina.protocol.query import QueryProtocol

        return QueryProtocol(service_model)
    if protocol == "json":
        from lamina.protocol.json_rpc import JsonRpcProtocol

        code = (json_options or {}).get("validation_error_code", "ValidationException")
        return JsonRpcProtocol(service_model, validation_error_code=code, enum_overrides=enum_overrides)
    raise NotImplementedError(f"wire protocol {protocol!r} of {service_model.service_name} is not supported")
