"""Password sign-in over a real identity directory (SQLite): the right password signs in, a
reset-required profile must be changed first and only then, and a session's subject does not
survive its login profile (or user) being made again under the same name."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from lamina.domain.iam.entities import LoginProfile, User
from lamina.domain.iam.passwords import hash_password
from lamina.identity.directory import IdentityDirectory
from lamina.identity.password_sign_in import PasswordSignIn
from lamina.store.sqlite.identity import SqliteIdentityStore

ACCOUNT = "000000000000"


def _run(tmp_path: Path, scenario: Callable[[IdentityDirectory, PasswordSignIn], Awaitable[None]]) -> None:
    async def run() -> None:
        store = SqliteIdentityStore(tmp_path / "identity.db", b"k" * 32)
        await store.open()
        directory = IdentityDirectory(store, {ACCOUNT: ("LKIAROOT", "secret")})
        await directory.load()
        try:
            await scenario(directory, PasswordSignIn(directory))
        finally:
            await store.close()

    asyncio.run(run())


async def _user(directory: IdentityDirectory, name: str, password: str, reset: bool = False) -> None:
    await directory.save_user(User(ACCOUNT, name, f"AIDA{name.upper():0<17}"[:21]))
    await directory.save_login_profile(
        LoginProfile(ACCOUNT, name, password_reset_required=reset), hash_password(password)
    )


def test_sign_in_and_the_forced_reset(tmp_path: Path) -> None:
    async def scenario(directory: IdentityDirectory, passwords: PasswordSignIn) -> None:
        await _user(directory, "ann", "First-pass1", reset=True)
        assert await passwords.check(ACCOUNT, "ann", "wrong") is None
        assert await passwords.check("111111111111", "ann", "First-pass1") is None
        signed_in = await passwords.check(ACCOUNT, "ann", "First-pass1")
        assert signed_in is not None and signed_in.password_reset_required
        assert await passwords.choose_new_password(ACCOUNT, "ann", "First-pass1", "weak") == (
            "Password does not conform to the account password policy."
        )
        assert await passwords.choose_new_password(ACCOUNT, "ann", "First-pass1", "Second-pass2") is None
        after = await passwords.check(ACCOUNT, "ann", "Second-pass2")
        assert after is not None and not after.password_reset_required
        # No further change through the sign-in form: that is UpdateLoginProfile's.
        assert await passwords.choose_new_password(ACCOUNT, "ann", "Second-pass2", "Third-pass3") == (
            "This password need not be changed: sign in without a new one."
        )
        assert await passwords.check(ACCOUNT, "ann", "Second-pass2") is not None

    _run(tmp_path, scenario)


def test_a_session_does_not_outlive_its_login_profile(tmp_path: Path) -> None:
    async def scenario(directory: IdentityDirectory, passwords: PasswordSignIn) -> None:
        await _user(directory, "bob", "First-pass1")
        signed_in = await passwords.check(ACCOUNT, "bob", "First-pass1")
        assert signed_in is not None
        assert passwords.principal_of(signed_in.subject) == signed_in.principal
        await directory.drop_login_profile(ACCOUNT, "bob")
        assert passwords.principal_of(signed_in.subject) is None
        await directory.save_login_profile(
            LoginProfile(ACCOUNT, "bob", created=time.time() + 5), hash_password("First-pass1")
        )
        assert passwords.principal_of(signed_in.subject) is None  # made again: the old session stays ended
        assert passwords.principal_of(f"{ACCOUNT}:bob") is None  # a subject without the profile's time

    _run(tmp_path, scenario)
