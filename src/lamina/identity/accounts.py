"""Accounts: created by the first account's root user (`lamina admin create-account`), each with
its own root key pair. IAM and STS work per account at once; a new account's callers reach the
first account's functions only through policies (cross-account calls by ARN)."""

from __future__ import annotations

import secrets

from lamina.auth.secrets_store import generate_access_key_id, generate_secret_access_key
from lamina.errors import AwsError
from lamina.identity.directory import IdentityDirectory


class AccountService:
    def __init__(self, directory: IdentityDirectory) -> None:
        self._directory = directory

    async def create(self, account_id: str | None = None) -> tuple[str, str, str]:
        """(account id, root access key id, root secret): the secret is shown this once."""
        if account_id is None:
            account_id = "".join(secrets.choice("0123456789") for _ in range(12))
            while self._directory.has_account(account_id):
                account_id = "".join(secrets.choice("0123456789") for _ in range(12))
        elif len(account_id) != 12 or not account_id.isdigit():
            raise AwsError("ValidationException", "An account id is 12 digits.", 400)
        if self._directory.has_account(account_id):
            raise AwsError("EntityAlreadyExists", f"Account {account_id} already exists.", 409)
        key, secret = generate_access_key_id(), generate_secret_access_key()
        await self._directory.add_account(account_id, key, secret)
        return account_id, key, secret
