"""Signing in to the console as an IAM user with a password (a login profile), and the new
password a profile created with PasswordResetRequired asks for at the first sign-in.

A session signed in this way names the user, not a key: it lasts while the user and its login
profile exist (deleting the profile ends it, as deactivating a key ends a key's session)."""

from __future__ import annotations

import asyncio
import functools
import secrets
from dataclasses import dataclass

from lamina.domain.iam.entities import LoginProfile
from lamina.domain.iam.passwords import POLICY_VIOLATION, hash_password, meets_default_policy, verify_password
from lamina.domain.iam.principals import Principal
from lamina.identity.directory import IdentityDirectory, user_principal

__all__ = ["PasswordSignIn", "SignedIn"]


@functools.cache
def _dummy_hash() -> str:
    """Checked for an unknown user, so that one costs a check too (made once, when first needed:
    scrypt takes tens of milliseconds)."""
    return hash_password(secrets.token_urlsafe(16))


@dataclass(frozen=True, slots=True)
class SignedIn:
    principal: Principal
    password_reset_required: bool


class PasswordSignIn:
    def __init__(self, directory: IdentityDirectory) -> None:
        self._directory = directory

    def principal(self, account_id: str, user_name: str) -> Principal | None:
        """The user while it exists and has a login profile; None otherwise."""
        user = (
            self._directory.account(account_id).users.get(user_name)
            if self._directory.has_account(account_id)
            else None
        )
        if user is None or self._directory.login_profile(account_id, user_name) is None:
            return None
        return user_principal(user)

    async def check(self, account_id: str, user_name: str, password: str) -> SignedIn | None:
        """Who signs in with this password; None for a wrong account, user or password (one
        answer for all three, in about the same time)."""
        found = (
            self._directory.login_profile(account_id, user_name)
            if self._directory.has_account(account_id)
            else None
        )
        stored = found[1] if found is not None else _dummy_hash()
        matches = await asyncio.to_thread(verify_password, password, stored)
        principal = self.principal(account_id, user_name)
        if found is None or not matches or principal is None:
            return None
        return SignedIn(principal, found[0].password_reset_required)

    async def choose_new_password(self, account_id: str, user_name: str, old: str, new: str) -> str | None:
        """Replace a password that must be reset; what is wrong (None when done)."""
        if await self.check(account_id, user_name, old) is None:
            return "Your authentication information is incorrect. Please try again."
        if new == old:
            return "The new password must differ from the old one."
        if not meets_default_policy(new):
            return POLICY_VIOLATION
        profile, _ = self._directory.login_profile(account_id, user_name) or (None, None)
        if profile is None:
            return "Your authentication information is incorrect. Please try again."
        await self._directory.save_login_profile(
            LoginProfile(profile.account, profile.user_name, profile.created, False),
            await asyncio.to_thread(hash_password, new),
        )
        return None
