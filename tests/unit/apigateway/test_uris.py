"""HTTP integration URIs are checked when set."""

from __future__ import annotations

import pytest

from lamina.apigateway.uris import check_http_uri


@pytest.mark.parametrize(
    "uri",
    [
        "http://example.com/",
        "https://h:8443/a/{proxy}",
        "http://${stageVariables.host}/x",
        "http://[::1]:80/",
    ],
)
def test_good_uris(uri: str) -> None:
    assert check_http_uri(uri) is None


@pytest.mark.parametrize(
    "uri",
    [
        "ftp://h/",
        "http:///x",
        "http://127.0.0.1:99999/",
        "http://[::1",
        "http://a b/",
        "http://x\r\nHost: y/",
        "http://h:0/",
    ],
)
def test_bad_uris(uri: str) -> None:
    assert check_http_uri(uri) is not None
