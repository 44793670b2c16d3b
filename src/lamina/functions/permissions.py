"""AddPermission, GetPolicy and RemovePermission: resource-based policies, stored per function,
version or alias. Stored now; the identity-and-access layer enforces them."""

from __future__ import annotations

from typing import Any

from lamina.domain.functions import LATEST
from lamina.domain.iam.policy import Policy
from lamina.domain.policies import MAX_POLICY_BYTES, ResourcePolicy, permission_statement
from lamina.errors import AwsError, conflict, invalid_parameter, not_found, precondition_failed
from lamina.functions.manager import FunctionManager
from lamina.store.ports import MetadataStore

_NO_POLICY = "The resource you requested does not exist."
_REVISION_MISMATCH = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
)


class PermissionService:
    def __init__(self, manager: FunctionManager, store: MetadataStore) -> None:
        self._manager = manager
        self._store = store
        # Parsed policies for authorisation, loaded on first use and dropped on every change.
        self._enforced: dict[tuple[str, str], Policy | None] = {}
        manager.on_delete(self._forget)

    async def enforced_policy(self, name: str, qualifier: str | None) -> Policy | None:
        """The policy that governs calls on `name:qualifier` (the function's own for $LATEST)."""
        key = (name, "" if qualifier in (None, LATEST) else str(qualifier))
        if key not in self._enforced:
            stored = await self._load(*key)
            self._enforced[key] = stored.enforced() if stored is not None else None
        return self._enforced[key]

    def _forget(self, name: str, version: str | None = None) -> None:
        for key in [key for key in self._enforced if key[0] == name and version in (None, key[1])]:
            del self._enforced[key]

    def forget_all(self) -> None:
        """Every cached policy read again when next needed (a worker, after the primary changed some)."""
        self._enforced.clear()

    async def forget_function(self, name: str) -> None:
        """An alias of `name` changed or went (its policy may have gone with it)."""
        self._forget(name)

    def _check_target(self, name: str, qualifier: str | None) -> str:
        """The storage key of the policy `qualifier` names ("" for the function's own)."""
        if qualifier == LATEST:
            raise invalid_parameter("We currently do not support adding policies for $LATEST.")
        self._manager.get(name, qualifier)  # the function, version or alias must exist
        return qualifier or ""

    async def _load(self, name: str, key: str) -> ResourcePolicy | None:
        text = await self._store.get_policy(name, key)
        return ResourcePolicy.loads(text) if text is not None else None

    async def add(self, name: str, qualifier: str | None, params: dict[str, Any]) -> dict[str, Any]:
        """AddPermission: returns the statement added."""
        async with self._manager.lock(name):
            key = self._check_target(name, qualifier)
            policy = await self._load(name, key) or ResourcePolicy()
            revision_id = params.get("RevisionId")
            # AWS's message sends callers to GetFunction/GetAlias for it: the RevisionId of the
            # function, version or alias is accepted, as is the one GetPolicy reported.
            if revision_id != self._manager.revision_of(name, qualifier):
                _check_revision(policy, revision_id)
            if policy.statement(params["StatementId"]) is not None:
                raise conflict(
                    "The statement id (sid) provided already exists. Please provide a new statement id, "
                    "or remove the existing statement."
                )
            statement = permission_statement(params, self._manager.placement.arn(name, qualifier))
            updated = policy.with_statement(statement)
            size = len(updated.document().encode())
            if size > MAX_POLICY_BYTES:
                raise AwsError(
                    "PolicyLengthExceededException",
                    f"The final policy size ({size}) is bigger than the limit ({MAX_POLICY_BYTES}).",
                    400,
                )
            await self._store.put_policy(name, key, updated.dumps())
            self._enforced.pop((name, key), None)
        return statement

    async def get(self, name: str, qualifier: str | None) -> ResourcePolicy:
        if qualifier != LATEST:
            self._manager.get(name, qualifier)
        policy = await self._load(name, qualifier or "") if qualifier != LATEST else None
        if policy is None:
            raise not_found(_NO_POLICY)
        return policy

    async def remove(self, name: str, qualifier: str | None, sid: str, revision_id: str | None) -> None:
        async with self._manager.lock(name):
            key = self._check_target(name, qualifier)
            policy = await self._load(name, key)
            if policy is None or policy.statement(sid) is None:
                raise not_found(f"Statement {sid} is not found in resource policy.")
            _check_revision(policy, revision_id)
            remaining = policy.without(sid)
            await self._store.put_policy(name, key, remaining.dumps() if remaining.statements else None)
            self._enforced.pop((name, key), None)


def _check_revision(policy: ResourcePolicy, revision_id: str | None) -> None:
    if revision_id is not None and revision_id != policy.revision_id:
        raise precondition_failed(_REVISION_MISMATCH)
