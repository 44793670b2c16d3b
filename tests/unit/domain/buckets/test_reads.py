"""Range requests (RFC 9110 §14) and conditional GETs (RFC 9110 §13.2.2, as S3 applies them)."""

from __future__ import annotations

import datetime

import pytest

from lamina.domain.buckets.reads import ByteRange, check_conditions, parse_range
from lamina.domain.buckets.records import ObjectRecord
from lamina.errors import AwsError

SIZE = 100


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=5-", 5, 99),
        ("bytes=-3", 97, 99),
        ("bytes=-100", 0, 99),
        ("bytes=-1000", 0, 99),  # more than there is: the whole object, as a range
        ("bytes=0-0", 0, 0),
        ("bytes=99-99", 99, 99),
        ("bytes=90-1000", 90, 99),  # an end past the object is cut to its last byte
        ("bytes=0-99", 0, 99),
        (" bytes = 2 - 4 ", 2, 4),
    ],
)
def test_ranges(header: str, start: int, end: int) -> None:
    byte_range = parse_range(header, SIZE)
    assert byte_range == ByteRange(start, end)
    assert byte_range.length == end - start + 1
    assert byte_range.content_range(SIZE) == f"bytes {start}-{end}/{SIZE}"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "bytes=",
        "bytes=-",
        "bytes=9-5",  # last before first: not a valid range, ignored
        "bytes=a-b",
        "bytes=0-1,5-6",  # several ranges: S3 sends the whole object
        "items=0-9",
        "bytes 0-9",
        "bytes=--1",
    ],
)
def test_malformed_or_ignored_ranges_mean_the_whole_object(header: str | None) -> None:
    assert parse_range(header, SIZE) is None


@pytest.mark.parametrize(("header", "size"), [("bytes=100-", 100), ("bytes=100-200", 100), ("bytes=-0", 100)])
def test_unsatisfiable_ranges_are_invalid_range_416(header: str, size: int) -> None:
    with pytest.raises(AwsError) as caught:
        parse_range(header, size)
    error = caught.value
    assert (error.code, error.status) == ("InvalidRange", 416)
    assert error.extra == {"RangeRequested": header, "ActualObjectSize": size}
    assert error.headers == {"Content-Range": f"bytes */{size}"}


def test_a_suffix_range_of_an_empty_object_is_the_whole_object() -> None:
    assert parse_range("bytes=-5", 0) is None


# Conditions ----------------------------------------------------------------------------------

MODIFIED = 1_700_000_000.75  # the fraction is below HTTP dates' precision
RECORD = ObjectRecord("b", "k", 3, '"abc123"', MODIFIED, ())


def _at(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC)


SAME_SECOND = _at(1_700_000_000)
EARLIER = _at(1_699_999_999)
LATER = _at(1_700_000_001)


def _outcome(**conditions: object) -> str | int:
    try:
        check_conditions(RECORD, **conditions)  # type: ignore[arg-type]
    except AwsError as error:
        return error.status
    return 200


@pytest.mark.parametrize(
    ("conditions", "status"),
    [
        ({}, 200),
        ({"if_match": '"abc123"'}, 200),
        ({"if_match": "abc123"}, 200),  # unquoted, as some clients send it
        ({"if_match": '"x", "abc123"'}, 200),
        ({"if_match": "*"}, 200),
        ({"if_match": '"other"'}, 412),
        ({"if_none_match": '"abc123"'}, 304),
        ({"if_none_match": "*"}, 304),
        ({"if_none_match": '"other"'}, 200),
        # Second precision: the modification second itself is not "since".
        ({"if_modified_since": SAME_SECOND}, 304),
        ({"if_modified_since": LATER}, 304),
        ({"if_modified_since": EARLIER}, 200),
        ({"if_unmodified_since": SAME_SECOND}, 200),
        ({"if_unmodified_since": LATER}, 200),
        ({"if_unmodified_since": EARLIER}, 412),
        # If-Match, when sent, replaces If-Unmodified-Since (S3: If-Match true and
        # If-Unmodified-Since false → 200).
        ({"if_match": '"abc123"', "if_unmodified_since": EARLIER}, 200),
        ({"if_match": '"other"', "if_unmodified_since": LATER}, 412),
        # If-None-Match, when sent, replaces If-Modified-Since (S3: If-None-Match false and
        # If-Modified-Since true → 304).
        ({"if_none_match": '"abc123"', "if_modified_since": EARLIER}, 304),
        ({"if_none_match": '"other"', "if_modified_since": LATER}, 200),
        # The 412 checks come first.
        ({"if_match": '"other"', "if_none_match": '"abc123"'}, 412),
        ({"if_unmodified_since": EARLIER, "if_modified_since": LATER}, 412),
        ({"if_match": '"abc123"', "if_none_match": '"abc123"'}, 304),
    ],
)
def test_conditions(conditions: dict[str, object], status: int) -> None:
    assert _outcome(**conditions) == status


def test_the_errors_carry_s3s_codes() -> None:
    with pytest.raises(AwsError) as caught:
        check_conditions(RECORD, if_match='"other"')
    assert (caught.value.code, caught.value.extra) == ("PreconditionFailed", {"Condition": "If-Match"})
    with pytest.raises(AwsError) as caught:
        check_conditions(RECORD, if_unmodified_since=EARLIER)
    assert caught.value.extra == {"Condition": "If-Unmodified-Since"}
    with pytest.raises(AwsError) as caught:
        check_conditions(RECORD, if_none_match='"abc123"')
    assert caught.value.code == "NotModified"


def test_dates_in_other_zones_compare_as_instants() -> None:
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    assert _outcome(if_modified_since=SAME_SECOND.astimezone(plus_two)) == 304
    assert _outcome(if_unmodified_since=EARLIER.astimezone(plus_two)) == 412
