"""API keys and usage plans of REST APIs: keys a caller sends in `x-api-key` (or an authorizer
names), plans that give keys access to API stages with a throttle and a quota. Kept in the
resource store and indexed in memory; the endpoint asks `admit` for each method that requires a
key: 403 Forbidden without a valid key in a plan for the stage, 429 "Too Many Requests" past the
plan's rate and 429 "Limit Exceeded" past its quota, as API Gateway answers."""

from __future__ import annotations

import asyncio
import copy
import secrets
import string
import time
from collections.abc import Sequence
from typing import Any

from lamina.apigateway.errors import bad_request, conflict, not_found
from lamina.apigateway.ids import new_api_id, new_id
from lamina.apigateway.patches import PatchSpec, apply_patches
from lamina.apigateway.throttling import MAX_OFFSET, QuotaCounter, TokenBuckets
from lamina.store.resource_ports import ResourceKey, ResourceStore, Write

__all__ = ["Admission", "UsagePlanService"]

KEY_KIND = "apigateway/apikey"
PLAN_KIND = "apigateway/usageplan"
_VALUE_ALPHABET = string.ascii_letters + string.digits
KEY_PATCHES: PatchSpec = {"name": "str", "description": "str", "enabled": "bool", "customerId": "str"}
PLAN_PATCHES: PatchSpec = {"name": "str", "description": "str", "productCode": "str"}
PERIODS = frozenset({"DAY", "WEEK", "MONTH"})
MAX_LIMIT = 2**31 - 1
MAX_RATE = 1_000_000.0  # requests a second (nan and inf are no rates: they compare False)
MAX_BURST = 2**31 - 1
Admission = str | None  # None: admitted; else why not: "forbidden", "throttled", "quota"


def _now() -> float:
    return round(time.time(), 3)


def _public_key(key: dict[str, Any], include_value: bool) -> dict[str, Any]:
    return {name: value for name, value in key.items() if include_value or name != "value"}


class UsagePlanService:
    def __init__(self, store: ResourceStore) -> None:
        self._store = store
        self._keys: dict[str, tuple[str, str, dict[str, Any]]] = {}  # id → (account, region, key)
        self._plans: dict[str, tuple[str, str, dict[str, Any]]] = {}
        self._by_value: dict[str, str] = {}  # key value → key id
        self._lock = asyncio.Lock()
        self._buckets = TokenBuckets()
        self._quotas = QuotaCounter()

    async def load(self) -> None:
        # Under the lock: a reload read the store while a write was in flight, then replaced
        # the in-memory state with what it read, losing the write (seen on a shared database).
        async with self._lock:
            keys = {
                key.name: (key.account, key.region, document)
                for key, document in await self._store.list_kind(KEY_KIND)
            }
            plans = {
                key.name: (key.account, key.region, document)
                for key, document in await self._store.list_kind(PLAN_KIND)
            }
            self._keys, self._plans = keys, plans
            self._by_value = {document["value"]: key_id for key_id, (_, _, document) in keys.items()}

    # API keys ------------------------------------------------------------------------------------
    def key(self, account: str, region: str, key_id: str) -> dict[str, Any]:
        found = self._keys.get(key_id)
        if found is None or found[:2] != (account, region):
            raise not_found("Invalid API Key identifier specified")
        return found[2]

    def keys(
        self, account: str, region: str, include_values: bool, name_query: str | None = None
    ) -> list[dict[str, Any]]:
        found = [doc for acct, reg, doc in self._keys.values() if (acct, reg) == (account, region)]
        if name_query:
            found = [doc for doc in found if str(doc.get("name", "")).startswith(name_query)]
        return [
            _public_key(doc, include_values)
            for doc in sorted(found, key=lambda doc: (doc["createdDate"], doc["id"]))
        ]

    async def create_key(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        value = params.get("value") or "".join(secrets.choice(_VALUE_ALPHABET) for _ in range(40))
        if len(value) < 20:
            raise bad_request("API Key value should be at least 20 characters")
        async with self._lock:
            if value in self._by_value:
                raise conflict("API Key already exists")
            now = _now()
            key: dict[str, Any] = {
                "id": new_api_id(),
                "value": value,
                "name": params.get("name") or "",
                "enabled": bool(params.get("enabled", False)),
                "createdDate": now,
                "lastUpdatedDate": now,
                "stageKeys": [],
            }
            for member in ("description", "customerId", "tags"):
                if params.get(member) is not None:
                    key[member] = params[member]
            await self._store.apply([Write(ResourceKey(KEY_KIND, account, region, key["id"]), key)])
            self._keys[key["id"]] = (account, region, key)
            self._by_value[value] = key["id"]
            return key

    async def update_key(
        self, account: str, region: str, key_id: str, patches: Sequence[dict[str, Any]]
    ) -> dict[str, Any]:
        async with self._lock:
            changed = apply_patches(self.key(account, region, key_id), patches, KEY_PATCHES)
            changed["lastUpdatedDate"] = _now()
            await self._store.apply([Write(ResourceKey(KEY_KIND, account, region, key_id), changed)])
            self._keys[key_id] = (account, region, changed)
            return changed

    async def delete_key(self, account: str, region: str, key_id: str) -> None:
        async with self._lock:
            key = self.key(account, region, key_id)
            writes = [Write(ResourceKey(KEY_KIND, account, region, key_id), None)]
            changed_plans = []
            for plan_id, (acct, reg, plan) in self._plans.items():
                if key_id in plan.get("apiKeyIds", []):
                    plan = {**plan, "apiKeyIds": [k for k in plan["apiKeyIds"] if k != key_id]}
                    changed_plans.append((plan_id, acct, reg, plan))
                    writes.append(Write(ResourceKey(PLAN_KIND, acct, reg, plan_id), plan))
            await self._store.apply(writes)
            del self._keys[key_id]
            self._by_value.pop(key["value"], None)
            for plan_id, acct, reg, plan in changed_plans:
                self._plans[plan_id] = (acct, reg, plan)

    # usage plans ---------------------------------------------------------------------------------
    def plan(self, account: str, region: str, plan_id: str) -> dict[str, Any]:
        found = self._plans.get(plan_id)
        if found is None or found[:2] != (account, region):
            raise not_found("Invalid Usage Plan ID specified")
        return found[2]

    def plans(self, account: str, region: str, key_id: str | None = None) -> list[dict[str, Any]]:
        found = [
            doc
            for acct, reg, doc in self._plans.values()
            if (acct, reg) == (account, region) and (key_id is None or key_id in doc.get("apiKeyIds", []))
        ]
        return sorted(found, key=lambda doc: doc["id"])

    async def create_plan(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("name"):
            raise bad_request("Invalid name specified")
        plan: dict[str, Any] = {
            "id": new_id(),
            "name": params["name"],
            "apiStages": params.get("apiStages") or [],
            "apiKeyIds": [],
        }
        for member in ("description", "throttle", "quota", "productCode", "tags"):
            if params.get(member) is not None:
                plan[member] = params[member]
        _check_plan(plan)
        async with self._lock:
            await self._store.apply([Write(ResourceKey(PLAN_KIND, account, region, plan["id"]), plan)])
            self._plans[plan["id"]] = (account, region, plan)
            return plan

    async def update_plan(
        self, account: str, region: str, plan_id: str, patches: Sequence[dict[str, Any]]
    ) -> dict[str, Any]:
        async with self._lock:
            plan = copy.deepcopy(self.plan(account, region, plan_id))
            simple = []
            for patch in patches:
                path = str(patch.get("path", ""))
                group, _, member = path.lstrip("/").partition("/")
                if group in ("throttle", "quota") and member:
                    _patch_limit(plan, group, member, patch)
                elif group == "apiStages":
                    _patch_stages(plan, patch)
                else:
                    simple.append(patch)
            plan = apply_patches(plan, simple, PLAN_PATCHES)
            _check_plan(plan)
            await self._store.apply([Write(ResourceKey(PLAN_KIND, account, region, plan_id), plan)])
            self._plans[plan_id] = (account, region, plan)
            return plan

    async def delete_plan(self, account: str, region: str, plan_id: str) -> None:
        async with self._lock:
            self.plan(account, region, plan_id)
            await self._store.apply([Write(ResourceKey(PLAN_KIND, account, region, plan_id), None)])
            del self._plans[plan_id]

    async def add_plan_key(
        self, account: str, region: str, plan_id: str, key_id: str, key_type: str
    ) -> dict[str, Any]:
        if key_type != "API_KEY":
            raise bad_request("Invalid key type specified: only API_KEY")
        async with self._lock:
            plan = self.plan(account, region, plan_id)
            key = self.key(account, region, key_id)
            if key_id in plan["apiKeyIds"]:
                raise conflict("Usage Plan already contains this key")
            changed = {**plan, "apiKeyIds": [*plan["apiKeyIds"], key_id]}
            await self._store.apply([Write(ResourceKey(PLAN_KIND, account, region, plan_id), changed)])
            self._plans[plan_id] = (account, region, changed)
            return {"id": key_id, "type": "API_KEY", "value": key["value"], "name": key.get("name", "")}

    def plan_keys(self, account: str, region: str, plan_id: str) -> list[dict[str, Any]]:
        plan = self.plan(account, region, plan_id)
        keys = [self._keys[key_id][2] for key_id in plan["apiKeyIds"] if key_id in self._keys]
        return [
            {"id": key["id"], "type": "API_KEY", "value": key["value"], "name": key.get("name", "")}
            for key in keys
        ]

    def plan_key(self, account: str, region: str, plan_id: str, key_id: str) -> dict[str, Any]:
        for key in self.plan_keys(account, region, plan_id):
            if key["id"] == key_id:
                return key
        raise not_found("Invalid Usage Plan Key identifier specified")

    async def remove_plan_key(self, account: str, region: str, plan_id: str, key_id: str) -> None:
        async with self._lock:
            plan = self.plan(account, region, plan_id)
            if key_id not in plan["apiKeyIds"]:
                raise not_found("Invalid Usage Plan Key identifier specified")
            changed = {**plan, "apiKeyIds": [k for k in plan["apiKeyIds"] if k != key_id]}
            await self._store.apply([Write(ResourceKey(PLAN_KIND, account, region, plan_id), changed)])
            self._plans[plan_id] = (account, region, changed)

    # the endpoint --------------------------------------------------------------------------------
    def admit(self, api_id: str, stage: str, key_value: str | None) -> Admission:
        """Whether a request to a key-requiring method of `api_id`/`stage` with this key may go on."""
        key_id = self._by_value.get(key_value or "")
        if key_id is None or not self._keys[key_id][2].get("enabled"):
            return "forbidden"
        account, region, _ = self._keys[key_id]
        for plan_id, (acct, reg, plan) in self._plans.items():
            if (acct, reg) != (account, region) or key_id not in plan.get("apiKeyIds", []):
                continue
            stages = [
                entry
                for entry in plan.get("apiStages", [])
                if entry.get("apiId") == api_id and entry.get("stage") == stage
            ]
            if not stages:
                continue
            throttle = stages[0].get("throttle", {}).get("*/*") or plan.get("throttle")
            if throttle and throttle.get("rateLimit") is not None:
                rate = float(throttle["rateLimit"])
                burst = int(throttle.get("burstLimit") or 0)
                if not self._buckets.take((plan_id, key_id), rate, burst):
                    return "throttled"
            quota = plan.get("quota")
            if quota and quota.get("limit") is not None:
                period, offset = quota.get("period", "DAY"), int(quota.get("offset") or 0)
                if not self._quotas.take((plan_id, key_id), period, int(quota["limit"]), offset):
                    return "quota"
            return None
        return "forbidden"


def _patch_limit(plan: dict[str, Any], group: str, member: str, patch: dict[str, Any]) -> None:
    kinds = {
        "throttle": {"rateLimit": float, "burstLimit": int},
        "quota": {"limit": int, "offset": int, "period": str},
    }
    convert = kinds[group].get(member)
    if convert is None:
        raise bad_request(f"Invalid patch path '/{group}/{member}'")
    if patch.get("op") == "remove":
        plan.get(group, {}).pop(member, None)
        return
    try:
        plan.setdefault(group, {})[member] = convert(patch.get("value"))
    except (TypeError, ValueError, OverflowError):
        raise bad_request(f"Invalid value for /{group}/{member}") from None


def _patch_stages(plan: dict[str, Any], patch: dict[str, Any]) -> None:
    api_id, _, stage = str(patch.get("value") or "").partition(":")
    if not api_id or not stage:
        raise bad_request("Invalid API Stage specified: expected apiId:stage")
    entries = [
        entry for entry in plan["apiStages"] if (entry.get("apiId"), entry.get("stage")) != (api_id, stage)
    ]
    if patch.get("op") == "add":
        entries.append({"apiId": api_id, "stage": stage})
    plan["apiStages"] = entries


def _check_plan(plan: dict[str, Any]) -> None:
    quota = plan.get("quota")
    if quota:
        period = quota.get("period")
        if period not in PERIODS:
            raise bad_request("Invalid quota period specified: DAY, WEEK or MONTH")
        if not _whole(quota.get("limit"), 0, MAX_LIMIT):
            raise bad_request(f"Invalid quota limit specified: from 0 to {MAX_LIMIT}")
        if not _whole(quota.get("offset", 0), 0, MAX_OFFSET[period]):
            raise bad_request(
                f"Invalid quota offset specified: from 0 to {MAX_OFFSET[period]} for period {period}"
            )
    throttle = plan.get("throttle")
    if throttle:
        rate = throttle.get("rateLimit", 0)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= MAX_RATE:
            raise bad_request(f"Invalid throttle rate limit specified: from 0 to {MAX_RATE}")
        if not _whole(throttle.get("burstLimit", 0), 0, MAX_BURST):
            raise bad_request(f"Invalid throttle burst limit specified: from 0 to {MAX_BURST}")


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
