"""Where a TemplateURL points."""

from __future__ import annotations

import pytest

from lamina.deploy.template_urls import bucket_and_key


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://my-bucket.s3.amazonaws.com/path/t.yaml", ("my-bucket", "path/t.yaml")),
        ("https://my-bucket.s3.eu-west-1.amazonaws.com/t.yaml", ("my-bucket", "t.yaml")),
        ("https://my-bucket.s3-eu-west-1.amazonaws.com/t.yaml", ("my-bucket", "t.yaml")),
        ("https://s3.amazonaws.com/my-bucket/t.yaml", ("my-bucket", "t.yaml")),
        ("https://s3.us-east-2.amazonaws.com/my-bucket/dir/t.yaml", ("my-bucket", "dir/t.yaml")),
        ("http://127.0.0.1:5264/my-bucket/t%20x.yaml", ("my-bucket", "t x.yaml")),
        ("http://my-bucket.s3.localhost:5264/t.yaml", ("my-bucket", "t.yaml")),
    ],
)
def test_supported_urls(url: str, expected: tuple[str, str]) -> None:
    assert bucket_and_key(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "ftp://h/b/k",
        "https://s3.amazonaws.com/bucket-only",
        "not a url",
        "https://my-bucket.s3.amazonaws.com/",
        "http://[::1/x",
    ],
)
def test_unsupported_urls(url: str) -> None:
    assert bucket_and_key(url) is None
