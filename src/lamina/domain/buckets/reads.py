"""Which bytes of an object a GET returns, and whether it returns them at all: the Range header
(RFC 9110 §14, one range only, as S3 serves) and the conditional headers (RFC 9110 §13.2.2's order
of evaluation, which S3 follows: "Conditional requests" in the S3 User Guide)."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from lamina.domain.buckets.errors import invalid_range, precondition_failed
from lamina.domain.buckets.records import ObjectRecord
from lamina.errors import AwsError

_RANGE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*")


@dataclass(frozen=True, slots=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The range to send; None for the whole object (no header, a syntax S3 ignores, or several
    ranges, which S3 does not serve: it sends the whole object). Raises InvalidRange (416) when
    the range starts past the end."""
    if header is None:
        return None
    found = _RANGE.fullmatch(header)
    if found is None:
        return None
    first, last = found.group(1), found.group(2)
    if not first and not last:
        return None
    if not first:  # the last N bytes
        count = int(last)
        if count == 0:
            raise invalid_range(size, header)
        return ByteRange(max(0, size - count), size - 1) if size else None
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # not a valid range: ignored, as RFC 9110 says
    if start >= size:
        raise invalid_range(size, header)
    return ByteRange(start, min(end, size - 1))


def _etag_matches(condition: str, etag: str) -> bool:
    wanted = [part.strip() for part in condition.split(",")]
    bare = etag.strip('"')
    return any(item == "*" or item.strip('"') == bare for item in wanted)


def _seconds(moment: datetime.datetime) -> int:
    return int(moment.timestamp())


def not_modified() -> AwsError:
    return AwsError("NotModified", "Not Modified", 304)


def check_conditions(
    record: ObjectRecord,
    *,
    if_match: str | None = None,
    if_none_match: str | None = None,
    if_modified_since: datetime.datetime | None = None,
    if_unmodified_since: datetime.datetime | None = None,
) -> None:
    """Raises PreconditionFailed (412) or NotModified (304) as S3 would for a GET or HEAD."""
    modified = int(record.last_modified)
    if if_match is not None:
        if not _etag_matches(if_match, record.etag):
            raise precondition_failed("If-Match")
    elif if_unmodified_since is not None and modified > _seconds(if_unmodified_since):
        raise precondition_failed("If-Unmodified-Since")
    if if_none_match is not None:
        if _etag_matches(if_none_match, record.etag):
            raise not_modified()
    elif if_modified_since is not None and modified <= _seconds(if_modified_since):
        raise not_modified()
