"""Patch operations of API Gateway's Update* operations."""

from __future__ import annotations

import pytest

from lamina.apigateway.patches import apply_patches
from lamina.errors import AwsError

SPEC = {
    "name": "str",
    "variables": "map",
    "binaryMediaTypes": "list",
    "tracingEnabled": "bool",
    "minimumCompressionSize": "int",
}


def test_scalars_maps_and_lists() -> None:
    document = {"name": "a", "variables": {"x": "1"}}
    changed = apply_patches(
        document,
        [
            {"op": "replace", "path": "/name", "value": "b"},
            {"op": "add", "path": "/variables/y", "value": "2"},
            {"op": "remove", "path": "/variables/x"},
            {"op": "add", "path": "/binaryMediaTypes/image~1png"},
            {"op": "replace", "path": "/tracingEnabled", "value": "true"},
            {"op": "replace", "path": "/minimumCompressionSize", "value": "1024"},
        ],
        SPEC,
    )
    assert changed == {
        "name": "b",
        "variables": {"y": "2"},
        "binaryMediaTypes": ["image/png"],
        "tracingEnabled": True,
        "minimumCompressionSize": 1024,
    }
    assert document == {"name": "a", "variables": {"x": "1"}}  # the original is untouched


def test_method_settings_paths() -> None:
    changed = apply_patches(
        {},
        [
            {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "10"},
            {"op": "replace", "path": "/~1pets/GET/metrics/enabled", "value": "true"},
        ],
        {},
        method_settings=True,
    )
    assert changed["methodSettings"] == {
        "*/*": {"throttlingRateLimit": 10.0},
        "pets/GET": {"metricsEnabled": True},
    }


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "replace", "path": "/unknown", "value": "x"},
        {"op": "move", "path": "/name", "value": "x"},
        {"op": "replace", "path": "/tracingEnabled", "value": "maybe"},
        {"op": "replace", "path": "/minimumCompressionSize", "value": "ten"},
        {"op": "replace", "path": "", "value": "x"},
        {"op": "replace", "path": "/minimumCompressionSize", "value": "-1"},
    ],
)
def test_refused_operations_are_bad_requests(operation: dict[str, str]) -> None:
    with pytest.raises(AwsError) as raised:
        apply_patches({"name": "a"}, [operation], SPEC)
    assert (raised.value.code, raised.value.status) == ("BadRequestException", 400)


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "1e400"])
def test_rates_must_be_finite_and_not_negative(value: str) -> None:
    with pytest.raises(AwsError):
        apply_patches(
            {},
            [{"op": "replace", "path": "/*/*/throttling/rateLimit", "value": value}],
            {},
            method_settings=True,
        )
