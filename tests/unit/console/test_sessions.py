"""Console sessions: a cookie signed by the server, refused when forged, tampered with or
expired; CSRF tokens bound to the session."""

from __future__ import annotations

from lamina.console.sessions import SessionSigner


def test_a_session_round_trips_and_expires() -> None:
    signer = SessionSigner(b"k" * 32, lifetime_s=60)
    session, cookie = signer.issue("AKIDEXAMPLE", now=1000.0)
    assert signer.read(cookie, now=1030.0) == session
    assert signer.read(cookie, now=1061.0) is None


def test_forged_tampered_and_malformed_cookies_are_no_session() -> None:
    signer = SessionSigner(b"k" * 32)
    _, cookie = signer.issue("AKIDEXAMPLE")
    payload, mac = cookie.split(".")
    other = SessionSigner(b"o" * 32)
    assert other.read(cookie) is None  # another server's key
    assert signer.read(payload[:-2] + "AA." + mac) is None
    for value in (None, "", "a", "a.b.c", "!!.??", "x" * 2000, payload + "." + mac[:-4]):
        assert signer.read(value) is None


def test_csrf_tokens_belong_to_their_session() -> None:
    signer = SessionSigner(b"k" * 32)
    first, _ = signer.issue("AKIDEXAMPLE")
    second, _ = signer.issue("AKIDEXAMPLE")
    token = signer.csrf_token(first)
    assert signer.csrf_ok(first, token)
    assert not signer.csrf_ok(second, token)
    assert not signer.csrf_ok(first, None) and not signer.csrf_ok(first, "")
