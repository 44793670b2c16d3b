"""Accounts: created by the first account's root user (`lamina admin create-account`), each with
its own root key pair, IAM, and Lambda functions; one account reaches another's functions only
as their policies allow (cross-account calls by ARN)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from lamina.auth.secrets_store import generate_access_key_id, generate_secret_access_key
from lamina.errors import AwsError
from lamina.identity.directory import IdentityDirectory


class AccountService:
    def __init__(
        self, directory: IdentityDirectory, created: Callable[[str], Awaitable[None]] | None = None
    ) -> None:
        """`created(account_id)`: called once a new account exists (the server builds its Lambda)."""
        self._directory = directory
        self._created = created

    def exists(self, account_id: str) -> bool:
        return self._directory.has_account(account_id)

    def function_limits(self, account_id: str) -> dict[str, Any]:
        return self._directory.function_limits(account_id)

    async def set_function_limits(self, account_id: str, limits: dict[str, Any]) -> None:
        await self._directory.set_function_limits(account_id, limits)

    async def create(self, account_id: object = None) -> tuple[str, str, str]:
        """(account id, root access key id, root secret): the secret is shown this once."""
        if account_id is None:
            account_id = "".join(secrets.choice("0123456789") for _ in range(12))
            while self._directory.has_account(account_id):
                account_id = "".join(secrets.choice("0123456789") for _ in range(12))
        elif (
            not isinstance(account_id, str)
            or len(account_id) != 12
            or not account_id.isascii()
            or not account_id.isdigit()
        ):
            raise AwsError("ValidationException", "An account id is 12 digits.", 400)
        if self._directory.has_account(account_id):
            raise AwsError("EntityAlreadyExists", f"Account {account_id} already exists.", 409)
        key, secret = generate_access_key_id(), generate_secret_access_key()
        await self._directory.add_account(account_id, key, secret)
        if self._created is not None:
            await self._created(account_id)
        return account_id, key, secret
