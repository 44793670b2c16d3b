"""Invoke's payload and client-context checks refuse JSON nested deeper than the parser goes with
a 400, as they do malformed JSON (the API fuzzer found both as 500s)."""

from __future__ import annotations

import base64

import pytest

from lamina.api.services.lambda_.invoke import _check_json, _client_context
from lamina.errors import AwsError

DEEP = b"[" * 100_000 + b"]" * 100_000


def test_a_payload_nested_too_deeply_is_invalid_request_content() -> None:
    with pytest.raises(AwsError) as raised:
        _check_json(DEEP)
    assert (raised.value.code, raised.value.status) == ("InvalidRequestContentException", 400)
    assert _check_json(b"[[[1]]]") == b"[[[1]]]"


def test_a_client_context_nested_too_deeply_is_invalid_parameter() -> None:
    encoded = base64.b64encode(b"[" * 1300 + b"]" * 1300).decode()  # within the size limit
    with pytest.raises(AwsError) as raised:
        _client_context(encoded)
    assert raised.value.status == 400
    assert _client_context(base64.b64encode(b'{"a": {"b": 1}}').decode()) == '{"a": {"b": 1}}'
