"""AWS::CDK::Metadata: the resource every CDK-synthesised template carries (the CDK's version
report). It makes nothing on AWS either; here it is recorded so `cdk synth` output deploys."""

from __future__ import annotations

from typing import Any

from lamina.deploy.providers.base import Created, ProviderContext

__all__ = ["CdkMetadataProvider"]


class CdkMetadataProvider:
    type_name = "AWS::CDK::Metadata"
    replaced_by: frozenset[str] = frozenset()

    async def create(self, context: ProviderContext, logical_id: str, properties: dict[str, Any]) -> Created:
        return Created(f"{context.stack_name}-{logical_id}", {})

    async def update(
        self,
        context: ProviderContext,
        logical_id: str,
        physical_id: str,
        properties: dict[str, Any],
        previous: dict[str, Any],
    ) -> Created:
        return Created(physical_id, {})

    async def delete(self, context: ProviderContext, physical_id: str, properties: dict[str, Any]) -> None:
        return None
