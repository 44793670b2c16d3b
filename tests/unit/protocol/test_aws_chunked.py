"""`aws-chunked` request bodies: unsigned with a checksum trailer (what boto3 sends by default),
and signed chunk by chunk (STREAMING-AWS4-HMAC-SHA256-PAYLOAD), with the chunk signatures
computed here independently from the algorithm in the Amazon S3 API Reference ("Signature
Calculations for the Authorization Header: Transferring Payload in Multiple Chunks")."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import zlib
from collections.abc import AsyncIterator, Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lamina.errors import AwsError
from lamina.protocol.aws_chunked import ChunkSigning, decode_aws_chunked, is_aws_chunked

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TIMESTAMP = "20130524T000000Z"
SCOPE = "20130524/us-east-1/s3/aws4_request"
# The seed signature of the AWS documentation's example (the request's own signature).
SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


KEY = signing_key(SECRET, "20130524", "us-east-1", "s3")
SIGNING = ChunkSigning(KEY, TIMESTAMP, SCOPE, SEED)


def chunk_signature(previous: str, chunk: bytes) -> str:
    """The documented string to sign for one chunk, signed with the request's signing key."""
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256-PAYLOAD",
            TIMESTAMP,
            SCOPE,
            previous,
            EMPTY_SHA256,
            hashlib.sha256(chunk).hexdigest(),
        ]
    )
    return hmac.new(KEY, string_to_sign.encode(), hashlib.sha256).hexdigest()


def signed_body(chunks: Iterable[bytes], seed: str = SEED) -> bytes:
    body = b""
    previous = seed
    for chunk in [*chunks, b""]:
        signature = chunk_signature(previous, chunk)
        body += f"{len(chunk):x};chunk-signature={signature}\r\n".encode() + chunk + b"\r\n"
        previous = signature
    return body


def unsigned_body(chunks: Iterable[bytes], trailers: Iterable[str] = ()) -> bytes:
    body = b"".join(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for chunk in chunks if chunk)
    body += b"0\r\n"
    body += b"".join(f"{line}\r\n".encode() for line in trailers)
    return body + b"\r\n"


async def pieces(data: bytes, cuts: Iterable[int] = ()) -> AsyncIterator[bytes]:
    """`data` as the transport might hand it over: split at `cuts`."""
    start = 0
    for cut in sorted(set(cuts)):
        if 0 < cut < len(data):
            yield data[start:cut]
            start = cut
    yield data[start:]


def decode(
    data: bytes, cuts: Iterable[int] = (), signing: ChunkSigning | None = None
) -> tuple[bytes, list[tuple[str, str]]]:
    trailers: list[tuple[str, str]] = []

    async def main() -> bytes:
        out = b""
        async for piece in decode_aws_chunked(
            pieces(data, cuts), lambda n, v: trailers.append((n, v)), signing
        ):
            out += piece
        return out

    return asyncio.run(main()), trailers


def decode_error(data: bytes, signing: ChunkSigning | None = None) -> AwsError:
    with pytest.raises(AwsError) as raised:
        decode(data, signing=signing)
    return raised.value


# --------------------------------------------------------------------------- detection


def test_is_aws_chunked() -> None:
    assert is_aws_chunked("STREAMING-UNSIGNED-PAYLOAD-TRAILER", None)
    assert is_aws_chunked("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", None)
    assert is_aws_chunked(None, "aws-chunked")
    assert is_aws_chunked("UNSIGNED-PAYLOAD", "gzip, AWS-CHUNKED")
    assert not is_aws_chunked("UNSIGNED-PAYLOAD", "gzip")
    assert not is_aws_chunked(EMPTY_SHA256, None)
    assert not is_aws_chunked(None, None)


# --------------------------------------------------------------------------- unsigned


def test_unsigned_body_with_checksum_trailer() -> None:
    payload = b"hello world" * 1000
    checksum = base64.b64encode(zlib.crc32(payload).to_bytes(4, "big")).decode()
    body = unsigned_body([payload[:7000], payload[7000:]], [f"x-amz-checksum-crc32:{checksum}"])
    assert decode(body) == (payload, [("x-amz-checksum-crc32", checksum)])


def test_trailer_names_are_lower_cased_and_values_trimmed() -> None:
    body = unsigned_body([b"abc"], ["X-Amz-Checksum-SHA256: abc= ", "x-amz-trailer-two:2"])
    assert decode(body) == (b"abc", [("x-amz-checksum-sha256", "abc="), ("x-amz-trailer-two", "2")])


def test_empty_body() -> None:
    assert decode(b"0\r\n\r\n") == (b"", [])


def test_chunk_extensions_are_ignored_when_unsigned() -> None:
    assert decode(b"3;ext=1\r\nabc\r\n0\r\n\r\n") == (b"abc", [])


def test_hex_sizes_in_either_case() -> None:
    payload = bytes(range(256)) * 2
    body = b"1Fa\r\n" + payload[:0x1FA] + b"\r\n" + b"6\r\n" + payload[0x1FA:] + b"\r\n0\r\n\r\n"
    assert decode(body)[0] == payload


@pytest.mark.parametrize(
    "body",
    [
        b"",  # nothing at all
        b"5\r\nabc",  # ends inside a chunk
        b"3\r\nabc\r\n",  # no last chunk
        b"3\r\nabc\r\n0\r\n",  # no end of the trailers
        b"3\r\nabc",  # no CRLF after the data, no last chunk
        b"3\r\nabcd\r\n0\r\n\r\n",  # a chunk longer than its size
        b"zz\r\nabc\r\n0\r\n\r\n",  # size not hexadecimal
        b"3\r\nabc\r\n0\r\nno-colon-here\r\n\r\n",  # malformed trailer
        b"a" * 5000,  # a framing line that never ends
    ],
)
def test_framing_errors_are_incomplete_body(body: bytes) -> None:
    error = decode_error(body)
    assert (error.code, error.status) == ("IncompleteBody", 400)


@settings(max_examples=200)
@given(
    chunks=st.lists(st.binary(min_size=1, max_size=300), max_size=6),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=20),
)
def test_unsigned_any_split_decodes_identically(chunks: list[bytes], cuts: list[int]) -> None:
    body = unsigned_body(chunks, ["x-amz-checksum-crc32:AAAAAA=="])
    assert decode(body, cuts) == (b"".join(chunks), [("x-amz-checksum-crc32", "AAAAAA==")])


def test_every_single_byte_split() -> None:
    body = unsigned_body([b"abc", b"\r\n0\r\n"], ["x-amz-checksum-crc32:Zm9v"])
    assert decode(body, range(len(body))) == (b"abc\r\n0\r\n", [("x-amz-checksum-crc32", "Zm9v")])


def test_payload_is_yielded_as_it_arrives_not_gathered() -> None:
    # A 1 MiB chunk arriving in 64 KiB reads comes out in pieces no larger than those reads.
    chunk = b"x" * (1 << 20)
    body = unsigned_body([chunk])
    sizes: list[int] = []

    async def main() -> None:
        async for piece in decode_aws_chunked(pieces(body, range(0, len(body), 65536)), lambda n, v: None):
            sizes.append(len(piece))

    asyncio.run(main())
    assert sum(sizes) == len(chunk)
    assert max(sizes) <= 65536


# --------------------------------------------------------------------------- signed


def test_documented_example_signatures() -> None:
    # Amazon S3 API Reference, "Example: PUT Object": a 66560-byte object of 'a' in a 65536-byte
    # chunk, a 1024-byte chunk and the final chunk, with these signatures.
    payload = b"a" * 66560
    body = (
        b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n"
        + payload[:65536]
        + b"\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n"
        + payload[65536:]
        + b"\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n"
    )
    assert decode(body, signing=SIGNING) == (payload, [])


def test_our_signer_matches_the_documented_example() -> None:
    # The independent signer above reproduces the AWS example, so tests built with it are sound.
    assert (
        chunk_signature(SEED, b"a" * 65536)
        == "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
    )


def test_signing_expected_matches_the_documented_algorithm() -> None:
    chunk = b"some bytes"
    assert SIGNING.expected(SEED, hashlib.sha256(chunk).hexdigest()) == chunk_signature(SEED, chunk)


def test_signed_chunks_decode() -> None:
    chunks = [b"first chunk", b"\x00" * 1000, b"last"]
    assert decode(signed_body(chunks), signing=SIGNING) == (b"".join(chunks), [])


def signature_mismatch(body: bytes) -> None:
    error = decode_error(body, SIGNING)
    assert (error.code, error.status) == ("SignatureDoesNotMatch", 403)


def test_tampered_chunk_is_signature_does_not_match() -> None:
    body = signed_body([b"hello world", b"second"])
    signature_mismatch(body.replace(b"hello world", b"HELLO world"))


def test_reordered_chunks_are_refused() -> None:
    # Each signature chains from the previous one: valid chunks in another order do not verify.
    first = signed_body([b"aaa", b"bbb"])
    lines = first.split(b"\r\n")
    swapped = b"\r\n".join([lines[2], lines[3], lines[0], lines[1], *lines[4:]])
    signature_mismatch(swapped)


def test_wrong_seed_is_refused() -> None:
    signature_mismatch(signed_body([b"abc"], seed="0" * 64))


def test_wrong_key_is_refused() -> None:
    other = ChunkSigning(signing_key("another secret", "20130524", "us-east-1", "s3"), TIMESTAMP, SCOPE, SEED)
    error = decode_error(signed_body([b"abc"]), other)
    assert error.code == "SignatureDoesNotMatch"


def test_missing_chunk_signature_is_refused() -> None:
    signature_mismatch(b"3\r\nabc\r\n0\r\n\r\n")


def test_final_chunk_signature_is_checked() -> None:
    # Dropping or forging the zero-length chunk's signature would let a body be cut short.
    body = signed_body([b"abc"])
    head, _, _ = body.rpartition(b"0;chunk-signature=")
    signature_mismatch(head + b"0;chunk-signature=" + b"f" * 64 + b"\r\n\r\n")


def test_signed_body_truncated_is_incomplete() -> None:
    body = signed_body([b"abc" * 100])
    error = decode_error(body[:-20], SIGNING)
    assert error.code == "IncompleteBody"


def test_tampered_data_is_never_all_yielded_before_the_refusal() -> None:
    # The bytes of a forged chunk may be streamed onward, but the stream then fails: a consumer
    # that reads to the end always sees the error, never a clean end.
    body = signed_body([b"good", b"evil"]).replace(b"evil", b"EVIL")
    received: list[bytes] = []

    async def main() -> None:
        async for piece in decode_aws_chunked(pieces(body), lambda n, v: None, SIGNING):
            received.append(piece)

    with pytest.raises(AwsError):
        asyncio.run(main())
    assert b"".join(received) in (b"good", b"goodEVIL")


@settings(max_examples=100)
@given(
    chunks=st.lists(st.binary(min_size=1, max_size=200), max_size=5),
    cuts=st.lists(st.integers(min_value=0, max_value=1500), max_size=25),
)
def test_signed_any_split_decodes_identically(chunks: list[bytes], cuts: list[int]) -> None:
    assert decode(signed_body(chunks), cuts, SIGNING) == (b"".join(chunks), [])


def test_signed_with_trailer() -> None:
    # STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: the chunks are signed, trailers follow the last.
    body = signed_body([b"abc"])[:-2] + b"x-amz-checksum-crc32:NSRBwg==\r\n\r\n"
    assert decode(body, signing=SIGNING) == (b"abc", [("x-amz-checksum-crc32", "NSRBwg==")])
