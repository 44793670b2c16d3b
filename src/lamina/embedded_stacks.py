"""Composition of CloudFormation (part of the composition root, kept apart from `server.py`): the
stack service over the resource store, its resource providers calling Lamina's own APIs in
process (as the principal that runs each stack), and the API facade."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lamina.api.in_process import InProcessClient
from lamina.api.services.cloudformation.facade import build_cloudformation_facade
from lamina.api.services.service import Service, ServiceFacade
from lamina.deploy.providers.base import Call
from lamina.deploy.stacks import StackService
from lamina.domain.iam.principals import Principal
from lamina.identity.authorizer import Authorizer
from lamina.store.resource_ports import ResourceStore

__all__ = ["EmbeddedStacks", "build_stacks"]


@dataclass
class EmbeddedStacks:
    service: StackService
    facade: ServiceFacade

    async def open(self) -> None:
        """After the resource store is open."""
        await self.service.load()

    def start(self) -> None:
        """Once the server answers: stack operations a stopped server left are finished."""
        self.service.resume()

    async def close(self) -> None:
        await self.service.close()


def build_stacks(
    store: ResourceStore, authorizer: Authorizer, services: Mapping[str, Service]
) -> EmbeddedStacks:
    """`services`: the gateway's facades by signing name (the providers' calls go to them)."""
    client = InProcessClient(services)

    def calls_as(principal: Principal, region: str) -> Call:
        async def call(service: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
            return await client.call(service, operation, params, principal, region)

        return call

    service = StackService(store, calls_as)
    return EmbeddedStacks(service, build_cloudformation_facade(service, authorizer))
