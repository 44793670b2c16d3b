"""HTTP API route keys and route selection."""

from __future__ import annotations

import pytest

from lamina.apigateway.routes import RouteTable, check_route_key

TABLE = RouteTable(
    [
        ("get-item", "GET /items/{id}"),
        ("any-items", "ANY /items/{proxy+}"),
        ("post-items", "POST /items"),
        ("default", "$default"),
        ("exact", "GET /items/special"),
    ]
)


def test_the_method_route_before_any_and_literal_before_parameter() -> None:
    assert TABLE.match("GET", "/items/special") == ("exact", {})
    assert TABLE.match("GET", "/items/7") == ("get-item", {"id": "7"})
    assert TABLE.match("DELETE", "/items/7") == ("any-items", {"proxy": "7"})
    assert TABLE.match("GET", "/items/7/parts") == ("any-items", {"proxy": "7/parts"})
    assert TABLE.match("POST", "/items") == ("post-items", {})


def test_default_takes_the_rest_and_without_it_nothing_matches() -> None:
    assert TABLE.match("PUT", "/elsewhere") == ("default", {})
    assert RouteTable([("a", "GET /a")]).match("GET", "/b") is None


@pytest.mark.parametrize("key", ["$default", "GET /", "ANY /{proxy+}", "POST /a/{b}/c"])
def test_valid_route_keys(key: str) -> None:
    assert check_route_key(key) is None


@pytest.mark.parametrize("key", ["FETCH /a", "GET a", "GET /{proxy+}/more", "GET /a b", "", "GET /{a}/{a}"])
def test_invalid_route_keys(key: str) -> None:
    assert check_route_key(key) is not None
