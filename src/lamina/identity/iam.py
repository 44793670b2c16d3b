"""The IAM API: users, access keys, roles, inline and managed policies, attachments.

Messages and codes follow IAM's (NoSuchEntity 404, EntityAlreadyExists 409, DeleteConflict 409,
LimitExceeded 409, MalformedPolicyDocument 400). Every call works in the caller's own account.
"""

from __future__ import annotations

import asyncio
from typing import Any

from lamina.auth.secrets_store import generate_access_key_id, generate_secret_access_key
from lamina.domain.iam.entities import (
    AccessKey,
    LoginProfile,
    ManagedPolicy,
    Role,
    User,
    encoded_document,
    new_id,
    tags_from,
)
from lamina.domain.iam.passwords import POLICY_VIOLATION, hash_password, meets_default_policy
from lamina.domain.iam.policy import MalformedPolicy, parse_policy
from lamina.domain.iam.principals import USER, Principal
from lamina.errors import AwsError
from lamina.identity.directory import IdentityDirectory

MAX_KEYS_PER_USER = 2
_DEFAULT_PAGE = 100


def no_such_entity(message: str) -> AwsError:
    return AwsError("NoSuchEntity", message, 404)


def _exists(message: str) -> AwsError:
    return AwsError("EntityAlreadyExists", message, 409)


def _conflict(message: str) -> AwsError:
    return AwsError("DeleteConflict", message, 409)


def _checked(document: str, *, trust: bool = False) -> str:
    try:
        parse_policy(document, resource_policy=trust)
    except MalformedPolicy as error:
        raise AwsError("MalformedPolicyDocument", str(error), 400) from None
    return document


def _page(items: list[Any], params: dict[str, Any], key: str) -> dict[str, Any]:
    start = int(params["Marker"]) if str(params.get("Marker", "")).isdigit() else 0
    size = params.get("MaxItems") or _DEFAULT_PAGE
    page = items[start : start + size]
    output: dict[str, Any] = {key: page, "IsTruncated": start + size < len(items)}
    if output["IsTruncated"]:
        output["Marker"] = str(start + size)
    return output


class IamService:
    def __init__(self, directory: IdentityDirectory) -> None:
        self._directory = directory

    def _user(self, account: str, name: str) -> User:
        user = self._directory.account(account).users.get(name)
        if user is None:
            raise no_such_entity(f"The user with name {name} cannot be found.")
        return user

    def _role(self, account: str, name: str) -> Role:
        role = self._directory.account(account).roles.get(name)
        if role is None:
            raise no_such_entity(f"The role with name {name} cannot be found.")
        return role

    def _policy(self, arn: str) -> ManagedPolicy:
        policy = self._directory.managed_policy(arn)
        if policy is None:
            raise no_such_entity(f"Policy {arn} does not exist or is not attachable.")
        return policy

    # users -----------------------------------------------------------------------------------
    async def create_user(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        name = params["UserName"]
        if name in self._directory.account(caller.account).users:
            raise _exists(f"User with name {name} already exists.")
        user = User(
            caller.account,
            name,
            new_id("AIDA"),
            params.get("Path") or "/",
            tags=tags_from(params.get("Tags")),
        )
        await self._directory.save_user(user)
        return {"User": user.to_api()}

    async def get_user(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        name = params.get("UserName")
        if name is None:
            if caller.kind == USER:
                name = caller.name
            else:
                return {
                    "User": {
                        "Path": "/",
                        "UserName": "root",
                        "UserId": caller.account,
                        "Arn": caller.arn,
                        "CreateDate": 0.0,
                    }
                }
        return {"User": self._user(caller.account, name).to_api()}

    async def list_users(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        prefix = params.get("PathPrefix") or "/"
        users = sorted(self._directory.account(caller.account).users.values(), key=lambda user: user.name)
        return _page([user.to_api() for user in users if user.path.startswith(prefix)], params, "Users")

    async def delete_user(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        user = self._user(caller.account, params["UserName"])
        if self._directory.keys_of(caller.account, user.name):
            raise _conflict("Cannot delete entity, must delete access keys first.")
        if self._directory.inline(caller.account, "user", user.name):
            raise _conflict("Cannot delete entity, must delete policies first.")
        if self._directory.attached(caller.account, "user", user.name):
            raise _conflict("Cannot delete entity, must detach all policies first.")
        if self._directory.login_profile(caller.account, user.name) is not None:
            raise _conflict("Cannot delete entity, must delete login profile first.")
        await self._directory.drop_user(caller.account, user.name)
        return {}

    # login profiles (console passwords) ------------------------------------------------------
    @staticmethod
    async def _password_hash(password: str) -> str:
        if not meets_default_policy(password):
            raise AwsError("PasswordPolicyViolation", POLICY_VIOLATION, 400)
        return await asyncio.to_thread(hash_password, password)

    def _profile(self, account: str, user_name: str) -> LoginProfile:
        found = self._directory.login_profile(account, user_name)
        if found is None:
            raise no_such_entity(f"Login Profile for User {user_name} cannot be found.")
        return found[0]

    def _profile_owner(self, params: dict[str, Any], caller: Principal) -> User:
        """The user a login-profile call names, else the calling user."""
        name = params.get("UserName") or (caller.name if caller.kind == USER else None)
        if not name:
            raise AwsError(
                "ValidationError", "Must specify userName when calling with non-User credentials", 400
            )
        return self._user(caller.account, name)

    async def create_login_profile(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        user = self._profile_owner(params, caller)
        if self._directory.login_profile(caller.account, user.name) is not None:
            raise _exists(f"Login Profile for user {user.name} already exists.")
        password_hash = await self._password_hash(str(params.get("Password") or ""))
        profile = LoginProfile(
            caller.account, user.name, password_reset_required=bool(params.get("PasswordResetRequired"))
        )
        await self._directory.save_login_profile(profile, password_hash)
        return {"LoginProfile": profile.to_api()}

    async def get_login_profile(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        return {
            "LoginProfile": self._profile(caller.account, self._profile_owner(params, caller).name).to_api()
        }

    async def update_login_profile(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        user = self._user(caller.account, params["UserName"])
        profile = self._profile(caller.account, user.name)
        password_hash = None
        if params.get("Password") is not None:
            password_hash = await self._password_hash(str(params["Password"]))
        if params.get("PasswordResetRequired") is not None:
            profile = LoginProfile(
                profile.account, profile.user_name, profile.created, bool(params["PasswordResetRequired"])
            )
        await self._directory.save_login_profile(profile, password_hash)
        return {}

    async def delete_login_profile(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        user = self._profile_owner(params, caller)
        self._profile(caller.account, user.name)
        await self._directory.drop_login_profile(caller.account, user.name)
        return {}

    # access keys -----------------------------------------------------------------------------
    def _key_owner(self, params: dict[str, Any], caller: Principal) -> str | None:
        """The user a key call is about: the named one, else the caller (None: the root)."""
        name = params.get("UserName")
        if name is not None:
            return self._user(caller.account, name).name
        return caller.name if caller.kind == USER else None

    async def create_access_key(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        owner = self._key_owner(params, caller)
        if len(self._directory.keys_of(caller.account, owner)) >= MAX_KEYS_PER_USER:
            raise AwsError(
                "LimitExceeded", f"Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS_PER_USER}", 409
            )
        key = AccessKey(caller.account, owner, generate_access_key_id())
        secret = generate_secret_access_key()
        await self._directory.save_key(key, secret)
        return {"AccessKey": {**key.to_api(), "UserName": owner or "root", "SecretAccessKey": secret}}

    async def list_access_keys(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        owner = self._key_owner(params, caller)
        keys = [key.to_api() for key in self._directory.keys_of(caller.account, owner)]
        return _page(keys, params, "AccessKeyMetadata")

    def _owned_key(self, params: dict[str, Any], caller: Principal) -> AccessKey:
        owner = self._key_owner(params, caller)
        key = self._directory.key(params["AccessKeyId"])
        if key is None or key.account != caller.account or key.user_name != owner:
            raise no_such_entity(f"The Access Key with id {params['AccessKeyId']} cannot be found.")
        return key

    async def update_access_key(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        key = self._owned_key(params, caller)
        await self._directory.save_key(
            AccessKey(key.account, key.user_name, key.access_key_id, params["Status"], key.created)
        )
        return {}

    async def delete_access_key(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        await self._directory.drop_key(self._owned_key(params, caller))
        return {}

    # roles -----------------------------------------------------------------------------------
    async def create_role(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        name = params["RoleName"]
        if name in self._directory.account(caller.account).roles:
            raise _exists(f"Role with name {name} already exists.")
        role = Role(
            caller.account,
            name,
            new_id("AROA"),
            _checked(params["AssumeRolePolicyDocument"], trust=True),
            params.get("Path") or "/",
            params.get("Description") or "",
            params.get("MaxSessionDuration") or 3600,
            tags=tags_from(params.get("Tags")),
        )
        await self._directory.save_role(role)
        return {"Role": role.to_api()}

    async def get_role(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        return {"Role": self._role(caller.account, params["RoleName"]).to_api()}

    async def list_roles(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        prefix = params.get("PathPrefix") or "/"
        roles = sorted(self._directory.account(caller.account).roles.values(), key=lambda role: role.name)
        return _page([role.to_api() for role in roles if role.path.startswith(prefix)], params, "Roles")

    async def delete_role(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        role = self._role(caller.account, params["RoleName"])
        if self._directory.inline(caller.account, "role", role.name):
            raise _conflict("Cannot delete entity, must delete policies first.")
        if self._directory.attached(caller.account, "role", role.name):
            raise _conflict("Cannot delete entity, must detach all policies first.")
        await self._directory.drop_role(caller.account, role.name)
        return {}

    # inline policies -------------------------------------------------------------------------
    def _owner(self, kind: str, account: str, name: str) -> str:
        return self._user(account, name).name if kind == "user" else self._role(account, name).name

    async def _put_inline(self, kind: str, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        owner = self._owner(kind, caller.account, params["UserName" if kind == "user" else "RoleName"])
        await self._directory.put_inline(
            caller.account, kind, owner, params["PolicyName"], _checked(params["PolicyDocument"])
        )
        return {}

    async def _get_inline(self, kind: str, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        owner_key = "UserName" if kind == "user" else "RoleName"
        owner = self._owner(kind, caller.account, params[owner_key])
        document = self._directory.inline(caller.account, kind, owner).get(params["PolicyName"])
        if document is None:
            raise no_such_entity(f"The {kind} policy with name {params['PolicyName']} cannot be found.")
        return {
            owner_key: owner,
            "PolicyName": params["PolicyName"],
            "PolicyDocument": encoded_document(document),
        }

    async def _delete_inline(self, kind: str, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        await self._get_inline(kind, params, caller)
        owner = params["UserName" if kind == "user" else "RoleName"]
        await self._directory.put_inline(caller.account, kind, owner, params["PolicyName"], None)
        return {}

    async def _list_inline(self, kind: str, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        owner = self._owner(kind, caller.account, params["UserName" if kind == "user" else "RoleName"])
        return _page(sorted(self._directory.inline(caller.account, kind, owner)), params, "PolicyNames")

    async def put_user_policy(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        return await self._put_inline("user", params, caller)

    async def get_user_policy(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        return await self._get_inline("user", params, caller)

    async def delete_user_policy(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        return await self._delete_inline("user", params, caller)

    async def list_user_policies(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        return await self._list_inline("user", params, caller)

    async def put_role_policy(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        return await self._put_inline("role", params, caller)

    async def get_role_policy(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        return await self._get_inline("role", params, caller)

    async def delete_role_policy(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        return await self._delete_inline("role", params, caller)

    async def list_role_policies(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        return await self._list_inline("role", params, caller)

    # managed policies ------------------------------------------------------------------------
    async def create_policy(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        policy = ManagedPolicy(
            caller.account,
            params["PolicyName"],
            new_id("ANPA"),
            _checked(params["PolicyDocument"]),
            params.get("Path") or "/",
            params.get("Description") or "",
        )
        if self._directory.managed_policy(policy.arn) is not None:
            raise _exists(f"A policy called {policy.name} already exists. Duplicate names are not allowed.")
        await self._directory.save_policy(policy)
        return {"Policy": policy.to_api(0)}

    async def get_policy(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        policy = self._policy(params["PolicyArn"])
        return {"Policy": policy.to_api(self._directory.attachment_count(policy.arn))}

    async def get_policy_version(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        policy = self._policy(params["PolicyArn"])
        if params["VersionId"] != "v1":
            raise no_such_entity(f"Policy {policy.arn} version {params['VersionId']} does not exist.")
        version = {
            "Document": encoded_document(policy.document),
            "VersionId": "v1",
            "IsDefaultVersion": True,
            "CreateDate": policy.created,
        }
        return {"PolicyVersion": version}

    async def list_policies(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        scope = params.get("Scope") or "All"
        policies: list[ManagedPolicy] = []
        if scope in ("All", "AWS"):
            policies += list(self._directory.aws_policies())
        if scope in ("All", "Local"):
            policies += sorted(
                self._directory.account(caller.account).policies.values(), key=lambda policy: policy.name
            )
        items = [policy.to_api(self._directory.attachment_count(policy.arn)) for policy in policies]
        if params.get("OnlyAttached"):
            items = [item for item in items if item["AttachmentCount"] > 0]
        return _page(items, params, "Policies")

    async def delete_policy(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        policy = self._policy(params["PolicyArn"])
        if policy.account != caller.account:
            raise AwsError("AccessDenied", f"You cannot delete the AWS managed policy {policy.arn}.", 403)
        if self._directory.attachment_count(policy.arn):
            raise _conflict("Cannot delete a policy attached to entities.")
        await self._directory.drop_policy(policy)
        return {}

    async def _attach(
        self, kind: str, params: dict[str, Any], caller: Principal, attached: bool
    ) -> dict[str, Any]:
        owner = self._owner(kind, caller.account, params["UserName" if kind == "user" else "RoleName"])
        policy = self._policy(params["PolicyArn"])
        if not attached and policy.arn not in self._directory.attached(caller.account, kind, owner):
            raise no_such_entity(f"Policy {policy.arn} was not found.")
        await self._directory.attach(caller.account, kind, owner, policy.arn, attached)
        return {}

    async def attach_user_policy(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        return await self._attach("user", params, caller, True)

    async def detach_user_policy(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        return await self._attach("user", params, caller, False)

    async def attach_role_policy(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        return await self._attach("role", params, caller, True)

    async def detach_role_policy(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        return await self._attach("role", params, caller, False)

    async def _list_attached(self, kind: str, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        owner = self._owner(kind, caller.account, params["UserName" if kind == "user" else "RoleName"])
        items = []
        for arn in self._directory.attached(caller.account, kind, owner):
            policy = self._directory.managed_policy(arn)
            if policy is not None:
                items.append({"PolicyName": policy.name, "PolicyArn": arn})
        return _page(items, params, "AttachedPolicies")

    async def list_attached_user_policies(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        return await self._list_attached("user", params, caller)

    async def list_attached_role_policies(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        return await self._list_attached("role", params, caller)


IAM_OPERATIONS = (
    "CreateUser",
    "GetUser",
    "ListUsers",
    "DeleteUser",
    "CreateLoginProfile",
    "GetLoginProfile",
    "UpdateLoginProfile",
    "DeleteLoginProfile",
    "CreateAccessKey",
    "ListAccessKeys",
    "UpdateAccessKey",
    "DeleteAccessKey",
    "CreateRole",
    "GetRole",
    "ListRoles",
    "DeleteRole",
    "PutUserPolicy",
    "GetUserPolicy",
    "DeleteUserPolicy",
    "ListUserPolicies",
    "PutRolePolicy",
    "GetRolePolicy",
    "DeleteRolePolicy",
    "ListRolePolicies",
    "CreatePolicy",
    "GetPolicy",
    "GetPolicyVersion",
    "ListPolicies",
    "DeletePolicy",
    "AttachUserPolicy",
    "DetachUserPolicy",
    "AttachRolePolicy",
    "DetachRolePolicy",
    "ListAttachedUserPolicies",
    "ListAttachedRolePolicies",
)
