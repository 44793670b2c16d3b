"""Every IAM entity of every account, in memory, written through to the identity store.

Authentication and authorisation consult it on every request, so it answers from memory: the secret
of an access key (SigV4), the principal behind it, and the parsed policies that apply to a principal.
Only this class writes IAM state, so its view is always current.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lamina.domain.iam.entities import AccessKey, LoginProfile, ManagedPolicy, Role, Session, User, record_of
from lamina.domain.iam.managed import AWS_MANAGED_POLICIES
from lamina.domain.iam.policy import Policy, parse_policy
from lamina.domain.iam.principals import ASSUMED_ROLE, USER, Principal, root_of
from lamina.store.ports import IdentityRecord, IdentityStore

USER_KIND, KEY_KIND, ROLE_KIND, POLICY_KIND = "user", "access-key", "role", "policy"
USER_POLICY_KIND, ROLE_POLICY_KIND = "user-policy", "role-policy"
USER_ATTACHMENT_KIND, ROLE_ATTACHMENT_KIND, SESSION_KIND = "user-attachment", "role-attachment", "session"
ACCOUNT_KIND, LOGIN_PROFILE_KIND = "account", "login-profile"
# An account's own function limits (`lamina admin limits`): FunctionLimits fields -> values.
FUNCTION_LIMITS_KIND, FUNCTION_LIMITS_NAME = "function-limits", "lambda"
_SEPARATOR = "\n"  # between the parts of a compound name (user and policy name)


@dataclass(frozen=True, slots=True)
class Credential:
    """What an access key id resolves to."""

    secret: str
    principal: Principal
    session_token: str | None = None
    expires: float | None = None


@dataclass
class _Account:
    users: dict[str, User] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)
    policies: dict[str, ManagedPolicy] = field(default_factory=dict)  # by ARN
    user_policies: dict[str, dict[str, str]] = field(default_factory=dict)  # user -> name -> document
    role_policies: dict[str, dict[str, str]] = field(default_factory=dict)
    user_attachments: dict[str, list[str]] = field(default_factory=dict)  # user -> policy ARNs
    role_attachments: dict[str, list[str]] = field(default_factory=dict)
    login_profiles: dict[str, LoginProfile] = field(default_factory=dict)  # by user name
    password_hashes: dict[str, str] = field(default_factory=dict)  # by user name
    function_limits: dict[str, Any] = field(default_factory=dict)  # the server's unless set


class IdentityDirectory:
    def __init__(self, store: IdentityStore, roots: dict[str, tuple[str, str]]) -> None:
        """`roots`: account id -> (access key id, secret) of its root user."""
        self._store = store
        self._accounts: dict[str, _Account] = {}
        self._keys: dict[str, AccessKey] = {}
        self._secrets: dict[str, str] = {}
        self._sessions: dict[str, Session] = {}
        self._local_sessions: set[str] = set()  # not stored: execution environments' own
        self._roots = dict(roots)
        self._aws_policies = {policy.arn: policy for policy in AWS_MANAGED_POLICIES}
        self._parsed: dict[str, Policy] = {}

    def account(self, account_id: str) -> _Account:
        return self._accounts.setdefault(account_id, _Account())

    @property
    def account_ids(self) -> list[str]:
        return sorted(set(self._roots) | set(self._accounts))

    async def load(self) -> None:
        self._apply(await self._store.load())
        self.expire_sessions()

    def _apply(self, records: Iterable[IdentityRecord]) -> None:
        for item in records:
            account = self.account(item.account)
            record = item.record
            if item.kind == USER_KIND:
                account.users[item.name] = User(**{**record, "tags": tuple(map(tuple, record["tags"]))})
            elif item.kind == ROLE_KIND:
                account.roles[item.name] = Role(**{**record, "tags": tuple(map(tuple, record["tags"]))})
            elif item.kind == POLICY_KIND:
                account.policies[item.name] = ManagedPolicy(**record)
            elif item.kind == KEY_KIND:
                self._keys[item.name] = AccessKey(**record)
                if item.secret is not None:
                    self._secrets[item.name] = item.secret
            elif item.kind == ACCOUNT_KIND and item.secret is not None:
                self._roots.setdefault(item.name, (item.record["access_key_id"], item.secret))
            elif item.kind == FUNCTION_LIMITS_KIND:
                account.function_limits = dict(record)
            elif item.kind == LOGIN_PROFILE_KIND:
                account.login_profiles[item.name] = LoginProfile(**record)
                if item.secret is not None:
                    account.password_hashes[item.name] = item.secret
            elif item.kind == SESSION_KIND:
                self._sessions[item.name] = Session(**record)
                if item.secret is not None:
                    self._secrets[item.name] = item.secret
            elif item.kind in (USER_POLICY_KIND, ROLE_POLICY_KIND):
                owner, _, name = item.name.partition(_SEPARATOR)
                target = account.user_policies if item.kind == USER_POLICY_KIND else account.role_policies
                target.setdefault(owner, {})[name] = record["document"]
            elif item.kind in (USER_ATTACHMENT_KIND, ROLE_ATTACHMENT_KIND):
                owner, _, arn = item.name.partition(_SEPARATOR)
                attached = (
                    account.user_attachments
                    if item.kind == USER_ATTACHMENT_KIND
                    else account.role_attachments
                )
                attached.setdefault(owner, []).append(arn)

    async def reload(self) -> None:
        """Replace the view by what the store holds now (a worker, after the primary changed IAM),
        keeping the unstored sessions of this process's environments."""
        local = {
            key: (self._sessions[key], self._secrets[key])
            for key in self._local_sessions
            if key in self._secrets
        }
        records = await self._store.load()  # before anything is cleared: requests keep being answered
        self._accounts, self._keys, self._secrets, self._sessions = {}, {}, {}, {}
        self._apply(records)
        for key, (session, secret) in local.items():
            self._sessions[key] = session
            self._secrets[key] = secret
        self.expire_sessions()

    def has_account(self, account_id: str) -> bool:
        return account_id in self._roots

    async def add_account(self, account_id: str, access_key_id: str, secret: str) -> None:
        """A new account and its root user's key pair (the secret stored encrypted)."""
        await self._store.put(ACCOUNT_KIND, account_id, account_id, {"access_key_id": access_key_id}, secret)
        self._roots[account_id] = (access_key_id, secret)

    def function_limits(self, account_id: str) -> dict[str, Any]:
        """The limits this account was given of its own (FunctionLimits fields); empty: the server's."""
        found = self._accounts.get(account_id)
        return dict(found.function_limits) if found is not None else {}

    async def set_function_limits(self, account_id: str, limits: dict[str, Any]) -> None:
        """Replace the account's own limits; an empty dict gives it the server's again."""
        if limits:
            await self._store.put(FUNCTION_LIMITS_KIND, account_id, FUNCTION_LIMITS_NAME, dict(limits))
        else:
            await self._store.delete(FUNCTION_LIMITS_KIND, account_id, FUNCTION_LIMITS_NAME)
        self.account(account_id).function_limits = dict(limits)

    # authentication --------------------------------------------------------------------------
    def credential(self, access_key_id: str) -> Credential | None:
        """The secret and principal of an access key id; None when unknown, inactive or expired."""
        for account_id, (root_key, root_secret) in self._roots.items():
            if access_key_id == root_key:
                return Credential(root_secret, root_of(account_id))
        key = self._keys.get(access_key_id)
        if key is not None:
            secret = self._secrets.get(access_key_id)
            if key.status != "Active" or secret is None:
                return None
            if key.user_name is None:
                return Credential(secret, root_of(key.account))
            user = self.account(key.account).users.get(key.user_name)
            if user is None:
                return None
            return Credential(secret, user_principal(user))
        session = self._sessions.get(access_key_id)
        if session is not None and access_key_id in self._secrets:
            role = self.account(session.account).roles.get(session.role_name)
            if role is None:
                return None
            principal = Principal(
                ASSUMED_ROLE,
                session.account,
                session.arn,
                f"{role.role_id}:{session.session_name}",
                session.session_name,
                role.arn,
            )
            return Credential(self._secrets[access_key_id], principal, session.token, session.expires)
        return None

    # authorisation ---------------------------------------------------------------------------
    def parsed(self, document: str) -> Policy:
        policy = self._parsed.get(document)
        if policy is None:
            policy = self._parsed[document] = parse_policy(document)
        return policy

    def identity_policies(self, principal: Principal) -> list[Policy]:
        """The inline and attached policies of a user, or of the role behind a session."""
        account = self._accounts.get(principal.account)
        if account is None:
            return []
        if principal.kind == USER:
            documents = list(account.user_policies.get(principal.name, {}).values())
            arns = account.user_attachments.get(principal.name, [])
        elif principal.kind == ASSUMED_ROLE:
            role_name = principal.role_arn.rsplit("/", 1)[-1]
            documents = list(account.role_policies.get(role_name, {}).values())
            arns = account.role_attachments.get(role_name, [])
        else:
            return []
        documents += [policy.document for arn in arns if (policy := self.managed_policy(arn)) is not None]
        return [self.parsed(document) for document in documents]

    def managed_policy(self, arn: str) -> ManagedPolicy | None:
        if arn in self._aws_policies:
            return self._aws_policies[arn]
        account_id = arn.split(":")[4] if arn.count(":") >= 5 else ""
        account = self._accounts.get(account_id)
        return account.policies.get(arn) if account is not None else None

    def aws_policies(self) -> Iterable[ManagedPolicy]:
        return self._aws_policies.values()

    # writes ----------------------------------------------------------------------------------
    async def save_user(self, user: User) -> None:
        await self._store.put(USER_KIND, user.account, user.name, record_of(user))
        self.account(user.account).users[user.name] = user

    async def drop_user(self, account_id: str, name: str) -> None:
        await self._store.delete(USER_KIND, account_id, name)
        self.account(account_id).users.pop(name, None)

    async def save_key(self, key: AccessKey, secret: str | None = None) -> None:
        await self._store.put(KEY_KIND, key.account, key.access_key_id, record_of(key), secret)
        self._keys[key.access_key_id] = key
        if secret is not None:
            self._secrets[key.access_key_id] = secret

    async def drop_key(self, key: AccessKey) -> None:
        await self._store.delete(KEY_KIND, key.account, key.access_key_id)
        self._keys.pop(key.access_key_id, None)
        self._secrets.pop(key.access_key_id, None)

    async def save_login_profile(self, profile: LoginProfile, password_hash: str | None) -> None:
        """Create or change a user's login profile; a None hash keeps the password."""
        await self._store.put(
            LOGIN_PROFILE_KIND, profile.account, profile.user_name, record_of(profile), password_hash
        )
        account = self.account(profile.account)
        account.login_profiles[profile.user_name] = profile
        if password_hash is not None:
            account.password_hashes[profile.user_name] = password_hash

    async def drop_login_profile(self, account_id: str, user_name: str) -> None:
        await self._store.delete(LOGIN_PROFILE_KIND, account_id, user_name)
        account = self.account(account_id)
        account.login_profiles.pop(user_name, None)
        account.password_hashes.pop(user_name, None)

    def login_profile(self, account_id: str, user_name: str) -> tuple[LoginProfile, str] | None:
        """A user's login profile and its password hash."""
        account = self._accounts.get(account_id)
        if account is None or user_name not in account.login_profiles:
            return None
        return account.login_profiles[user_name], account.password_hashes.get(user_name, "")

    def keys_of(self, account_id: str, user_name: str | None) -> list[AccessKey]:
        return [
            key for key in self._keys.values() if key.account == account_id and key.user_name == user_name
        ]

    def key(self, access_key_id: str) -> AccessKey | None:
        return self._keys.get(access_key_id)

    async def save_role(self, role: Role) -> None:
        await self._store.put(ROLE_KIND, role.account, role.name, record_of(role))
        self.account(role.account).roles[role.name] = role

    async def drop_role(self, account_id: str, name: str) -> None:
        await self._store.delete(ROLE_KIND, account_id, name)
        self.account(account_id).roles.pop(name, None)

    async def save_policy(self, policy: ManagedPolicy) -> None:
        await self._store.put(POLICY_KIND, policy.account, policy.arn, record_of(policy))
        self.account(policy.account).policies[policy.arn] = policy

    async def drop_policy(self, policy: ManagedPolicy) -> None:
        await self._store.delete(POLICY_KIND, policy.account, policy.arn)
        self.account(policy.account).policies.pop(policy.arn, None)

    async def put_inline(
        self, account_id: str, owner_kind: str, owner: str, name: str, document: str | None
    ) -> None:
        """Set (None: delete) an inline policy of a user (`owner_kind` "user") or a role."""
        kind = USER_POLICY_KIND if owner_kind == "user" else ROLE_POLICY_KIND
        account = self.account(account_id)
        target = account.user_policies if owner_kind == "user" else account.role_policies
        if document is None:
            await self._store.delete(kind, account_id, owner + _SEPARATOR + name)
            target.get(owner, {}).pop(name, None)
        else:
            await self._store.put(kind, account_id, owner + _SEPARATOR + name, {"document": document})
            target.setdefault(owner, {})[name] = document

    def inline(self, account_id: str, owner_kind: str, owner: str) -> dict[str, str]:
        account = self.account(account_id)
        target = account.user_policies if owner_kind == "user" else account.role_policies
        return dict(target.get(owner, {}))

    async def attach(self, account_id: str, owner_kind: str, owner: str, arn: str, attached: bool) -> None:
        kind = USER_ATTACHMENT_KIND if owner_kind == "user" else ROLE_ATTACHMENT_KIND
        account = self.account(account_id)
        target = account.user_attachments if owner_kind == "user" else account.role_attachments
        current = target.setdefault(owner, [])
        if attached and arn not in current:
            await self._store.put(kind, account_id, owner + _SEPARATOR + arn, {})
            current.append(arn)
        elif not attached and arn in current:
            await self._store.delete(kind, account_id, owner + _SEPARATOR + arn)
            current.remove(arn)

    def attached(self, account_id: str, owner_kind: str, owner: str) -> list[str]:
        account = self.account(account_id)
        target = account.user_attachments if owner_kind == "user" else account.role_attachments
        return list(target.get(owner, []))

    def attachment_count(self, arn: str) -> int:
        return sum(
            arns.count(arn)
            for account in self._accounts.values()
            for arns in (*account.user_attachments.values(), *account.role_attachments.values())
        )

    async def save_session(self, session: Session, secret: str, *, persist: bool = True) -> None:
        """`persist` False: an execution environment's session, useless after a restart (the
        environments go with the server), so never written."""
        if persist:
            await self._store.put(
                SESSION_KIND, session.account, session.access_key_id, record_of(session), secret
            )
        else:
            self._local_sessions.add(session.access_key_id)
        self._sessions[session.access_key_id] = session
        self._secrets[session.access_key_id] = secret

    def revoke_session(self, access_key_id: str) -> None:
        """An unpersisted session's end (its environment stopped): its key no longer signs."""
        self._sessions.pop(access_key_id, None)
        self._secrets.pop(access_key_id, None)
        self._local_sessions.discard(access_key_id)

    def expire_sessions(self, now: float | None = None) -> None:
        """Forget sessions past their expiry (their records go at the next start's load)."""
        moment = time.time() if now is None else now
        for key, session in list(self._sessions.items()):
            if session.expires < moment - 3600:  # kept an hour for ExpiredToken answers
                del self._sessions[key]
                self._secrets.pop(key, None)
                self._local_sessions.discard(key)


def user_principal(user: User) -> Principal:
    return Principal(USER, user.account, user.arn, user.user_id, user.name)
