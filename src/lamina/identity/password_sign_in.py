"""Signing in to the console as an IAM user with a password (a login profile), and the new
password a profile created with PasswordResetRequired asks for at the first sign-in.

A session signed in this way names the user, not a key: the user's id and its login profile's
creation time, so it lasts while that user and that profile exist (deleting the profile ends it,
as deactivating a key ends a key's session; a profile or user made again under the same name
does not bring it back)."""

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
    subject: str  # what a session names: account, user name, user id, the profile's creation


class PasswordSignIn:
    def __init__(self, directory: IdentityDirectory) -> None:
        self._directory = directory

    def _current(self, account_id: str, user_name: str) -> tuple[str, Principal] | None:
        """The subject a session of this user would name now, and the user; None without a
        login profile."""
        if not self._directory.has_account(account_id):
            return None
        user = self._directory.account(account_id).users.get(user_name)
        found = self._directory.login_profile(account_id, user_name)
        if user is None or found is None:
            return None
        return f"{account_id}:{user_name}:{user.user_id}:{found[0].created!r}", user_principal(user)

    def principal_of(self, subject: str) -> Principal | None:
        """Who a session's subject names, while that user and that login profile exist."""
        account_id, _, rest = subject.partition(":")
        user_name = rest.partition(":")[0]
        current = self._current(account_id, user_name)
        return current[1] if current is not None and current[0] == subject else None

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
        current = self._current(account_id, user_name)
        if found is None or not matches or current is None:
            return None
        return SignedIn(current[1], found[0].password_reset_required, current[0])

    async def choose_new_password(self, account_id: str, user_name: str, old: str, new: str) -> str | None:
        """Replace a password that must be reset (PasswordResetRequired; any other change is
        UpdateLoginProfile's); what is wrong (None when done)."""
        signed_in = await self.check(account_id, user_name, old)
        if signed_in is None:
            return "Your authentication information is incorrect. Please try again."
        if not signed_in.password_reset_required:
            return "This password need not be changed: sign in without a new one."
        if new == old:
            return "The new password must differ from the old one."
        if not meets_default_policy(new):
            return POLICY_VIOLATION
        found = self._directory.login_profile(account_id, user_name)
        if found is None:
            return "Your authentication information is incorrect. Please try again."
        profile = found[0]
        await self._directory.save_login_profile(
            LoginProfile(profile.account, profile.user_name, profile.created, False),
            await asyncio.to_thread(hash_password, new),
        )
        return None
