"""The SMTP port (`lamina server --smtp-port N`): inbound mail for SES receipt rules, on aiosmtpd
in the server's event loop. A recipient no enabled rule of the active rule set takes is refused at
RCPT (550), as SES refuses mail for addresses it does not receive for; an accepted message runs
the rule set (`sources/mail/receiving.py`) before DATA is answered, so a 250 means its actions
were handed their work.

Bounded like the HTTP edge: a message is at most `MAX_MESSAGE_BYTES`, a connection idle for
`IDLE_TIMEOUT_S` is closed, and at most `MAX_SESSIONS` are served at once (421 beyond).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from lamina.sources.mail.receiving import MailReceiver

__all__ = ["SmtpServer"]

_log = logging.getLogger(__name__)
MAX_MESSAGE_BYTES = 10 * 1024 * 1024
IDLE_TIMEOUT_S = 60.0
MAX_SESSIONS = 64


class _Handler:
    def __init__(self, receiver: MailReceiver) -> None:
        self._receiver = receiver

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        try:
            accepted = await self._receiver.accepts(address)
        except Exception:
            _log.exception("checking the recipient %s failed", address)
            return "451 4.3.0 Temporary failure, try again later"
        if not accepted:
            return "550 5.1.1 Requested action not taken: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content if envelope.original_content is not None else envelope.content
        data = raw if isinstance(raw, bytes) else str(raw or "").encode()
        try:
            message_id = await self._receiver.receive(
                str(envelope.mail_from or ""), list(envelope.rcpt_tos), data
            )
        except Exception:
            _log.exception("running the receipt rules on a message failed")
            return "451 4.3.0 Temporary failure, try again later"
        return f"250 2.0.0 Ok: queued as {message_id}" if message_id else "250 2.0.0 Ok"


class _BoundedSMTP(SMTP):
    """Refuses a connection past the session limit with 421, as a busy mail server does."""

    sessions = 0

    def connection_made(self, transport: Any) -> None:
        if _BoundedSMTP.sessions >= MAX_SESSIONS:
            transport.write(b"421 4.3.2 Too many connections, try again later\r\n")
            transport.close()
            return
        _BoundedSMTP.sessions += 1
        self._counted = True
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if getattr(self, "_counted", False):
            _BoundedSMTP.sessions -= 1
            self._counted = False
        super().connection_lost(error)


class SmtpServer:
    def __init__(self, receiver: MailReceiver, host: str, port: int) -> None:
        self._handler = _Handler(receiver)
        self._host = host
        self._port = port
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        def protocol() -> SMTP:
            return _BoundedSMTP(
                self._handler,
                data_size_limit=MAX_MESSAGE_BYTES,
                enable_SMTPUTF8=True,
                hostname="lamina",
                timeout=IDLE_TIMEOUT_S,
            )

        self._server = await asyncio.get_running_loop().create_server(protocol, self._host, self._port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
