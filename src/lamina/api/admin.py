"""Lamina's admin API under /_lamina/admin/: for the first account's root user only, signed with
SigV4 like every AWS call (any service name in the scope; the CLI uses `lamina`).

POST /_lamina/admin/accounts  {"AccountId": "123456789012"}?  ->  201 {"AccountId", "AccessKeyId",
"SecretAccessKey"}: a new account and its root credentials, shown this once.

GET /_lamina/admin/accounts/ID/limits  ->  200 {"AccountId", "Limits": effective, "Own": set for it}
PUT /_lamina/admin/accounts/ID/limits  {"MaxTimeout": 7200, "MaxMemory": 65536, ...}  ->  200 (as GET):
the account's own function limits replace the server's for it (domain/function_limits.py); `{}`
gives it the server's again. The payload cannot pass what the public port accepts (--max-payload).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qsl

from lamina.api.callers import caller_of
from lamina.domain.function_limits import FunctionLimits, limits_document, limits_from_document
from lamina.errors import AwsError
from lamina.identity.accounts import AccountService
from lamina.identity.directory import Credential
from lamina.protocol.sigv4 import SignedRequest, SigV4Verifier
from lamina.transport.http11 import LeanRequest, LeanResponse
from lamina.transport.limits import PAYLOAD_SLACK_BYTES

PREFIX = "/_lamina/admin/"
_LIMITS_PATH = re.compile(re.escape(PREFIX) + r"accounts/(\d{12})/limits")


def _json(status: int, document: dict[str, Any]) -> LeanResponse:
    return LeanResponse(status, json.dumps(document).encode())


class AdminRoutes:
    def __init__(
        self,
        verifier: SigV4Verifier,
        credentials: Callable[[str], Credential | None],
        accounts: AccountService,
        primary_account: str,
        server_limits: FunctionLimits | None = None,
        max_body_bytes: int | None = None,
    ) -> None:
        """`server_limits`: what every account gets unless given its own; `max_body_bytes`: the
        public port's body cap, past which no payload limit can be used."""
        self._verifier = verifier
        self._credentials = credentials
        self._accounts = accounts
        self._primary = primary_account
        self._server_limits = server_limits or FunctionLimits()
        self._max_body_bytes = max_body_bytes

    async def handle(self, lean: LeanRequest) -> LeanResponse:
        try:
            verified = self._verifier.verify(
                SignedRequest(lean.method, lean.path, lean.query_string, lean.headers, lean.body)
            )
            query = parse_qsl(lean.query_string, keep_blank_values=True)
            principal = caller_of(
                self._credentials, verified.access_key_id, verified.service, lean.headers, query
            )
            if not (principal.is_root and principal.account == self._primary):
                return _json(403, {"message": f"{principal.arn} may not use Lamina's admin API"})
            if lean.method == "POST" and lean.path == PREFIX + "accounts":
                body = json.loads(lean.body or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("not an object")
                account_id, key, secret = await self._accounts.create(body.get("AccountId"))
                return _json(201, {"AccountId": account_id, "AccessKeyId": key, "SecretAccessKey": secret})
            if (match := _LIMITS_PATH.fullmatch(lean.path)) is not None and lean.method in ("GET", "PUT"):
                return await self._limits(lean, match.group(1))
            return _json(404, {"message": f"Not found: {lean.method} {lean.path}"})
        except AwsError as error:
            return _json(error.status, {"code": error.code, "message": error.message})
        except (ValueError, RecursionError):
            return _json(400, {"message": "The body must be a JSON object."})

    async def _limits(self, lean: LeanRequest, account_id: str) -> LeanResponse:
        if not self._accounts.exists(account_id):
            return _json(404, {"message": f"No account {account_id}."})
        if lean.method == "PUT":
            try:
                own = limits_from_document(json.loads(lean.body or b"{}"))
            except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
                return _json(400, {"message": "The body must be a JSON object."})
            except ValueError as error:
                return _json(400, {"message": str(error)})
            payload = own.get("max_payload_bytes")
            if payload is not None and self._max_body_bytes is not None:
                largest = self._max_body_bytes - PAYLOAD_SLACK_BYTES  # what the port admits
                if payload > largest:
                    return _json(
                        400,
                        {
                            "message": "MaxPayload cannot pass what this server's port accepts "
                            f"({largest // (1024 * 1024)} MB): start it with a larger --max-payload."
                        },
                    )
            await self._accounts.set_function_limits(account_id, own)
        own = self._accounts.function_limits(account_id)
        effective = self._server_limits.overridden(own)
        return _json(
            200,
            {
                "AccountId": account_id,
                "Limits": limits_document({**asdict(effective), "max_cpus": effective.cpu_ceiling}),
                "Own": limits_document(own),
            },
        )
