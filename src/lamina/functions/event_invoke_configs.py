"""Put/Get/Update/Delete/ListFunctionEventInvokeConfigs: retry and destination settings of
asynchronous invocation, per function ($LATEST), version or alias.

Stored, and cached in memory for the delivery loop; the cache follows every change, including
the deletion of a function, version or alias that takes its config with it.
"""

from __future__ import annotations

import re
from typing import Any

from lamina.domain.arns import parse_function_ref
from lamina.domain.async_events import EventInvokeConfig, default_invoke_config
from lamina.domain.functions import LATEST
from lamina.errors import AwsError, invalid_parameter, not_found
from lamina.functions.aliases import AliasService
from lamina.functions.manager import FunctionManager
from lamina.store.ports import MetadataStore

_NOT_A_FUNCTION_DESTINATION = (
    "Lamina delivers asynchronous invocation records to Lambda functions and SQS queues; topic and "
    "event bus destinations arrive with those services."
)
_QUEUE_ARN = re.compile(r"arn:aws[a-zA-Z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,75}(\.fifo)?")
_TOPIC_ARN = re.compile(r"arn:aws[a-zA-Z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?")


class EventInvokeConfigService:
    def __init__(self, manager: FunctionManager, aliases: AliasService, store: MetadataStore) -> None:
        self._manager = manager
        self._store = store
        self._configs: dict[tuple[str, str], EventInvokeConfig] = {}
        manager.on_delete(self._forget)
        aliases.on_change(self._reload)

    async def restore(self) -> None:
        self._configs = {
            (c.function_name, c.qualifier): c for c in await self._store.list_event_invoke_configs()
        }

    def config_for(self, name: str, qualifier: str | None) -> EventInvokeConfig:
        """The settings an Event invocation of `name:qualifier` runs with (AWS's defaults if none)."""
        key = (name, qualifier or LATEST)
        return self._configs.get(key) or default_invoke_config(*key)

    def arn(self, config: EventInvokeConfig) -> str:
        return self._manager.placement.arn(config.function_name, config.qualifier)

    def _target(self, name: str, qualifier: str | None) -> str:
        self._manager.get(name, qualifier)  # the function, version or alias must exist
        return qualifier or LATEST

    def get(self, name: str, qualifier: str | None) -> EventInvokeConfig:
        key = (name, self._target(name, qualifier))
        config = self._configs.get(key)
        if config is None:
            raise not_found(
                f"The function {self._manager.placement.arn(*key)} doesn't have an EventInvokeConfig"
            )
        return config

    def list(self, name: str) -> list[EventInvokeConfig]:
        self._manager.get(name)
        return sorted((c for (n, _), c in self._configs.items() if n == name), key=lambda c: c.qualifier)

    async def put(
        self, name: str, qualifier: str | None, params: dict[str, Any], *, merge: bool
    ) -> EventInvokeConfig:
        """Put replaces the whole config; Update (`merge`) changes only what it names and needs an
        existing config."""
        async with self._manager.lock(name):
            key = (name, self._target(name, qualifier))
            current = self._configs.get(key)
            if merge and current is None:
                raise not_found(
                    f"The function {self._manager.placement.arn(*key)} doesn't have an EventInvokeConfig"
                )
            base = current if merge and current is not None else default_invoke_config(*key)
            config = EventInvokeConfig(
                name,
                key[1],
                params.get("MaximumRetryAttempts", base.max_retry_attempts),
                params.get("MaximumEventAgeInSeconds", base.max_event_age_seconds),
                *self._destinations(params.get("DestinationConfig"), base if merge else None),
                retries_given="MaximumRetryAttempts" in params or base.retries_given,
                max_age_given="MaximumEventAgeInSeconds" in params or base.max_age_given,
            )
            await self._store.put_event_invoke_config(config)
            self._configs[key] = config
        return config

    async def delete(self, name: str, qualifier: str | None) -> None:
        async with self._manager.lock(name):
            key = (name, self._target(name, qualifier))
            if key not in self._configs:
                raise not_found(
                    f"The function {self._manager.placement.arn(*key)} doesn't have an EventInvokeConfig"
                )
            await self._store.delete_event_invoke_config(*key)
            del self._configs[key]

    def _destinations(
        self, destination_config: dict[str, Any] | None, base: EventInvokeConfig | None
    ) -> tuple[str | None, str | None]:
        on_success = base.on_success if base is not None else None
        on_failure = base.on_failure if base is not None else None
        if destination_config is not None:
            if "OnSuccess" in destination_config:
                on_success = self._destination((destination_config["OnSuccess"] or {}).get("Destination"))
            if "OnFailure" in destination_config:
                on_failure = self._destination((destination_config["OnFailure"] or {}).get("Destination"))
        return on_success, on_failure

    def _destination(self, arn: str | None) -> str | None:
        if not arn:
            return None
        if arn.startswith("arn:aws:sqs:"):
            if _QUEUE_ARN.fullmatch(arn) is None:
                raise invalid_parameter(f"The destination ARN {arn} is invalid.")
            return arn
        if arn.startswith("arn:aws:sns:"):
            if _TOPIC_ARN.fullmatch(arn) is None:
                raise invalid_parameter(f"The destination ARN {arn} is invalid.")
            return arn
        if ":lambda:" not in arn or ":function:" not in arn:
            raise invalid_parameter(_NOT_A_FUNCTION_DESTINATION)
        placement = self._manager.placement
        try:
            parse_function_ref(arn, region=placement.region, account_id=placement.account_id)
        except AwsError:
            raise invalid_parameter(f"The destination ARN {arn} is invalid.") from None
        return arn

    def _forget(self, name: str, version: str | None) -> None:
        for key in [key for key in self._configs if key[0] == name and version in (None, key[1])]:
            del self._configs[key]

    async def _reload(self, name: str) -> None:
        """An alias changed or went: its config may have gone with it."""
        self._forget(name, None)
        for config in await self._store.list_event_invoke_configs(name):
            self._configs[(name, config.qualifier)] = config
