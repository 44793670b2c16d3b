"""Create/Get/Update/Delete/ListEventSourceMappings: the API's side of
`functions/event_source_mappings.py`."""

from __future__ import annotations

from typing import Any

from lamina.api.context import OperationResult, RequestContext
from lamina.functions.event_source_mappings import EventSourceMappingService

MAX_ITEMS = 100


class EventSourceMappingOperations:
    def __init__(self, service: EventSourceMappingService) -> None:
        self._service = service

    async def create_event_source_mapping(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        mapping = await self._service.create(params)
        return OperationResult(mapping.to_output(), status=202)

    async def get_event_source_mapping(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        return OperationResult(self._service.get(params["UUID"]).to_output())

    async def update_event_source_mapping(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        mapping = await self._service.update(params["UUID"], params)
        return OperationResult(mapping.to_output(), status=202)

    async def delete_event_source_mapping(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        mapping = await self._service.delete(params["UUID"])
        return OperationResult(mapping.to_output(), status=202)

    async def list_event_source_mappings(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        mappings = self._service.list(params.get("EventSourceArn"), params.get("FunctionName"))
        start = int(params["Marker"]) if str(params.get("Marker") or "").isdigit() else 0
        limit = min(int(params.get("MaxItems") or MAX_ITEMS), MAX_ITEMS)
        page = mappings[start : start + limit]
        output: dict[str, Any] = {"EventSourceMappings": [mapping.to_output() for mapping in page]}
        if start + limit < len(mappings):
            output["NextMarker"] = str(start + limit)
        return OperationResult(output)
