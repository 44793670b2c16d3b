"""Handler strings as the API validates them and the Python runtime splits them."""

from __future__ import annotations

import pytest

from lamina.domain.handler import split_handler, validate_handler
from lamina.errors import AwsError


@pytest.mark.parametrize("handler", ["app.handler", "pkg/sub/app.main", "a.b.c", "x" * 128, "no_dot"])
def test_validate_handler_returns_acceptable_handlers_unchanged(handler: str) -> None:
    assert validate_handler(handler) == handler


def assert_rejected(handler: str) -> None:
    with pytest.raises(AwsError) as caught:
        validate_handler(handler)
    assert (caught.value.code, caught.value.status) == ("InvalidParameterValueException", 400)
    assert caught.value.message == f"Invalid handler: {handler!r}"


@pytest.mark.parametrize(
    "handler", ["", "app. handler", " app.handler", "a\tb.c", "app.\nhandler", "x" * 129]
)
def test_validate_handler_rejects_whitespace_empty_and_overlong(handler: str) -> None:
    assert_rejected(handler)


def test_validate_handler_rejects_a_trailing_newline() -> None:
    assert_rejected("app.handler\n")


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        ("app.handler", ("app", "handler")),
        ("pkg/sub/app.main", ("pkg.sub.app", "main")),
        ("a.b.c", ("a.b", "c")),
        ("pkg/app.sub.fn", ("pkg.app.sub", "fn")),
    ],
)
def test_split_handler(handler: str, expected: tuple[str, str]) -> None:
    assert split_handler(handler) == expected


@pytest.mark.parametrize("handler", ["handler", "app.", ".handler", ""])
def test_split_handler_without_module_or_function_raises_value_error(handler: str) -> None:
    with pytest.raises(ValueError, match="not enough values to unpack") as caught:
        split_handler(handler)
    assert str(caught.value) == (f"Bad handler '{handler}': not enough values to unpack (expected 2, got 1)")
