"""STS: GetCallerIdentity, and AssumeRole's temporary credentials.

AssumeRole checks the role's trust policy as IAM does for a resource policy (the caller needs its
own permission too when the trust policy names only its account), and gives a session of
DurationSeconds (900 up to the role's MaxSessionDuration, default 3600).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from lamina.auth.secrets_store import generate_secret_access_key
from lamina.domain.iam.entities import Role, Session, new_id
from lamina.domain.iam.evaluation import AccessRequest, Decision, evaluate
from lamina.domain.iam.policy import MalformedPolicy, parse_policy
from lamina.domain.iam.principals import ASSUMED_ROLE, Principal, service_principal
from lamina.errors import AwsError
from lamina.identity.directory import IdentityDirectory

ASSUME_ROLE = "sts:AssumeRole"
LAMBDA_SERVICE = service_principal("lambda.amazonaws.com")
MIN_SESSION_SECONDS = 900
# Execution environments' sessions: one per environment, as on AWS, for 12 hours (an environment
# stops long before: keep-alive and the pool's credential check see to it), revoked when it stops.
ENVIRONMENT_SESSION_SECONDS = 12 * 3600


def access_denied(principal: Principal, action: str, resource: str) -> AwsError:
    return AwsError(
        "AccessDenied",
        f"User: {principal.arn} is not authorized to perform: {action} on resource: {resource}",
        403,
    )


class StsService:
    def __init__(self, directory: IdentityDirectory) -> None:
        self._directory = directory
        self._next_sweep = 0.0

    def _forget_expired_sessions(self) -> None:
        """At most once a minute, forget expired sessions: a long-running server sees functions
        come and go, and each one invoked leaves an environment session behind."""
        now = time.time()
        if now < self._next_sweep:
            return
        self._next_sweep = now + 60
        self._directory.expire_sessions(now)

    def revoke_environment_session(self, access_key_id: str) -> None:
        self._directory.revoke_session(access_key_id)

    async def get_caller_identity(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        return {"UserId": caller.user_id or caller.account, "Account": caller.account, "Arn": caller.arn}

    def trusts(self, role: Role, principal: Principal) -> bool:
        """Whether `principal` may assume `role`: its trust policy, and, when that names only the
        caller's account, the caller's own policies."""
        try:
            trust = parse_policy(role.assume_role_policy, resource_policy=True)
        except MalformedPolicy:
            return False
        request = AccessRequest(principal, ASSUME_ROLE, role.arn, role.account)
        return evaluate(request, self._directory.identity_policies(principal), trust) is Decision.ALLOW

    def lambda_may_assume(self, role_arn: str, account_id: str) -> bool:
        """CreateFunction's check: the role exists in the function's account and trusts Lambda."""
        role = self.role_by_arn(role_arn)
        return role is not None and role.account == account_id and self.trusts(role, LAMBDA_SERVICE)

    def service_role_session(self, role_arn: str, service: str, session_name: str) -> Principal | None:
        """A session of `role_arn` as `service` (such as `scheduler.amazonaws.com`) assumes it for
        its work; None unless the role exists and its trust policy lets the service in."""
        role = self.role_by_arn(role_arn)
        if role is None or not self.trusts(role, service_principal(service)):
            return None
        return self.role_session_principal(role_arn, session_name)

    def role_session_principal(self, role_arn: str, session_name: str) -> Principal | None:
        """The principal a function's calls run as: a session of its execution role."""
        role = self.role_by_arn(role_arn)
        if role is None:
            return None
        arn = f"arn:aws:sts::{role.account}:assumed-role/{role.name}/{session_name}"
        return Principal(
            ASSUMED_ROLE, role.account, arn, f"{role.role_id}:{session_name}", session_name, role.arn
        )

    def role_by_arn(self, arn: str) -> Role | None:
        parts = arn.split(":", 5)
        if len(parts) != 6 or not parts[5].startswith("role/"):
            return None
        return self._directory.account(parts[4]).roles.get(parts[5].rsplit("/", 1)[-1])

    async def assume_role(self, params: dict[str, Any], caller: Principal) -> dict[str, Any]:
        arn = params["RoleArn"]
        role = self.role_by_arn(arn)
        if role is None or not self.trusts(role, caller):
            raise access_denied(caller, ASSUME_ROLE, arn)
        duration = params.get("DurationSeconds") or 3600
        if not MIN_SESSION_SECONDS <= duration <= role.max_session_duration:
            raise AwsError(
                "ValidationError",
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
                400,
            )
        session, secret = await self.new_session(role, params["RoleSessionName"], duration)
        return {
            "Credentials": {
                "AccessKeyId": session.access_key_id,
                "SecretAccessKey": secret,
                "SessionToken": session.token,
                "Expiration": session.expires,
            },
            "AssumedRoleUser": {
                "AssumedRoleId": f"{role.role_id}:{session.session_name}",
                "Arn": session.arn,
            },
        }

    async def environment_variables(
        self, role_arn: str, function_name: str, endpoint: str
    ) -> tuple[dict[str, str], float | None]:
        """What an execution environment of `function_name` gets: temporary credentials of its
        own for the function's role, as Lambda sets them (the session is named after the
        function, as Lambda names it), and the endpoint to use them with."""
        made = await self.environment_session(role_arn, function_name)
        if made is None:
            return {"AWS_ENDPOINT_URL": endpoint}, None  # the role went: its calls are refused
        return environment_variables_of(*made, endpoint), made[0].expires

    async def environment_session(self, role_arn: str, function_name: str) -> tuple[Session, str] | None:
        """A new execution environment's session and its secret; None when the role is gone."""
        self._forget_expired_sessions()
        role = self.role_by_arn(role_arn)
        if role is None:
            return None
        return await self.new_session(role, function_name[:64], ENVIRONMENT_SESSION_SECONDS, persist=False)

    async def new_session(
        self, role: Role, session_name: str, duration: int, *, persist: bool = True
    ) -> tuple[Session, str]:
        """Temporary credentials for `role` (AssumeRole, and execution environments)."""
        session = Session(
            role.account,
            new_id("ASIA", 20),
            role.name,
            session_name,
            secrets.token_urlsafe(96),
            time.time() + duration,
        )
        secret = generate_secret_access_key()
        await self._directory.save_session(session, secret, persist=persist)
        return session, secret


def environment_variables_of(session: Session, secret: str, endpoint: str) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": session.access_key_id,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_SESSION_TOKEN": session.token,
        "AWS_ENDPOINT_URL": endpoint,
    }
