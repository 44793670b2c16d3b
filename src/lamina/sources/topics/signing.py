"""Signs SNS messages (signature version 1: SHA1withRSA, base64) with this server's own key, whose
self-signed certificate is served at SigningCertURL, so a subscriber that verifies signatures can
(pointed at Lamina's certificate rather than AWS's). The key is made once and kept in the data
directory, readable by the server only."""

from __future__ import annotations

import base64
import datetime
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

__all__ = ["MessageSigner"]

CERTIFICATE_NAME = "SimpleNotificationService-lamina.pem"


class MessageSigner:
    def __init__(self, folder: Path) -> None:
        self._key_path = folder / "sns-signing-key.pem"
        self._certificate_path = folder / CERTIFICATE_NAME
        self._key: rsa.RSAPrivateKey | None = None
        self._certificate = b""

    def open(self) -> None:
        if self._key_path.exists() and self._certificate_path.exists():
            loaded = serialization.load_pem_private_key(self._key_path.read_bytes(), password=None)
            assert isinstance(loaded, rsa.RSAPrivateKey)
            self._key, self._certificate = loaded, self._certificate_path.read_bytes()
            return
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.lamina.local")])
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256())
        )
        self._key_path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self._key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        self._certificate = certificate.public_bytes(serialization.Encoding.PEM)
        self._certificate_path.write_bytes(self._certificate)
        self._key = key

    @property
    def certificate(self) -> bytes:
        return self._certificate

    def sign(self, text: str) -> str:
        assert self._key is not None, "open() first"
        return base64.b64encode(self._key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA1())).decode()
