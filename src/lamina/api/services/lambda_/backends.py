"""Everything the Lambda API's handlers call into, gathered once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from lamina.execution.async_delivery import AsyncDelivery
from lamina.execution.invocation import InvocationService
from lamina.functions.aliases import AliasService
from lamina.functions.concurrency import FunctionConcurrency
from lamina.functions.event_invoke_configs import EventInvokeConfigService
from lamina.functions.event_source_mappings import EventSourceMappingService
from lamina.functions.function_urls import FunctionUrlService
from lamina.functions.layers import LayerService
from lamina.functions.manager import FunctionManager
from lamina.functions.permissions import PermissionService
from lamina.functions.provisioned import ProvisionedConcurrency
from lamina.functions.recursion import RecursionConfigService
from lamina.functions.tags import TagService


@dataclass(frozen=True, slots=True)
class LambdaBackends:
    manager: FunctionManager
    aliases: AliasService
    provisioned: ProvisionedConcurrency
    concurrency: FunctionConcurrency
    permissions: PermissionService
    tags: TagService
    event_invoke_configs: EventInvokeConfigService
    function_urls: FunctionUrlService
    layers: LayerService
    recursion: RecursionConfigService
    invocations: InvocationService
    delivery: AsyncDelivery
    event_source_mappings: EventSourceMappingService
