"""Lamina's admin API under /_lamina/admin/: for the first account's root user only, signed with
SigV4 like every AWS call (any service name in the scope; the CLI uses `lamina`).

POST /_lamina/admin/accounts  {"AccountId": "123456789012"}?  ->  201 {"AccountId", "AccessKeyId",
"SecretAccessKey"}: a new account and its root credentials, shown this once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import parse_qsl

from lamina.api.callers import caller_of
from lamina.errors import AwsError
from lamina.identity.accounts import AccountService
from lamina.identity.directory import Credential
from lamina.protocol.sigv4 import SignedRequest, SigV4Verifier
from lamina.transport.http11 import LeanRequest, LeanResponse

PREFIX = "/_lamina/admin/"


def _json(status: int, document: dict[str, str]) -> LeanResponse:
    return LeanResponse(status, json.dumps(document).encode())


class AdminRoutes:
    def __init__(
        self,
        verifier: SigV4Verifier,
        credentials: Callable[[str], Credential | None],
        accounts: AccountService,
        primary_account: str,
    ) -> None:
        self._verifier = verifier
        self._credentials = credentials
        self._accounts = accounts
        self._primary = primary_account

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
            return _json(404, {"message": f"Not found: {lean.method} {lean.path}"})
        except AwsError as error:
            return _json(error.status, {"code": error.code, "message": error.message})
        except ValueError:
            return _json(400, {"message": "The body must be a JSON object."})
