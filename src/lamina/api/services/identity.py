"""The IAM and STS facades: their operation tables over the identity services."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from lamina.api.context import OperationResult, RequestContext
from lamina.api.services.service import OperationHandler, ServiceFacade
from lamina.identity.iam import IAM_OPERATIONS, IamService
from lamina.identity.sts import StsService
from lamina.protocol.http import WireProtocol

STS_OPERATIONS = ("GetCallerIdentity", "AssumeRole")


def _snake(operation: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


def _table(service: Any, operations: Iterable[str]) -> dict[str, OperationHandler]:
    def handler_for(name: str) -> OperationHandler:
        method = getattr(service, _snake(name))

        async def handle(params: dict[str, Any], context: RequestContext) -> OperationResult:
            return OperationResult(await method(params, context.principal))

        return handle

    return {operation: handler_for(operation) for operation in operations}


def build_iam_facade(protocol: WireProtocol, iam: IamService) -> ServiceFacade:
    return ServiceFacade(protocol, _table(iam, IAM_OPERATIONS))


def build_sts_facade(protocol: WireProtocol, sts: StsService) -> ServiceFacade:
    return ServiceFacade(protocol, _table(sts, STS_OPERATIONS))
