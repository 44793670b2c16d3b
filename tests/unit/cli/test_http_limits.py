"""`--http-limit NAME=VALUE` reaches the public port's HttpLimits; mistakes are usage errors."""

from __future__ import annotations

import pytest
import typer

from lamina.cli.http_limits import limit_names, parse_http_limits
from lamina.config import HttpLimits


def test_no_overrides_are_the_defaults() -> None:
    assert parse_http_limits([]) == HttpLimits()


def test_overrides_by_name_with_numbers_of_the_fields_type() -> None:
    limits = parse_http_limits(["header_timeout=5", "max-header-bytes=1024", "idle_timeout=off"])
    assert limits.header_timeout == 5.0
    assert limits.max_header_bytes == 1024
    assert limits.idle_timeout is None
    assert limits.body_timeout == HttpLimits().body_timeout


@pytest.mark.parametrize(
    "value",
    ["nosuch=1", "header_timeout", "max_header_bytes=lots", "max_header_bytes=off", "body_timeout=-1"],
)
def test_mistakes_are_usage_errors(value: str) -> None:
    with pytest.raises(typer.BadParameter):
        parse_http_limits([value])


def test_help_names_every_limit() -> None:
    names = limit_names()
    for field in (
        "max_url_bytes",
        "header_timeout",
        "idle_timeout",
        "max_connections",
        "function_connections",
    ):
        assert field in names


def test_the_function_connection_cap_is_set_or_turned_off() -> None:
    assert HttpLimits().function_connections == 256
    assert parse_http_limits(["function_connections=64"]).function_connections == 64
    assert parse_http_limits(["function_connections=off"]).function_connections is None
