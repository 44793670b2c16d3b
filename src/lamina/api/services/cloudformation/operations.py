"""CloudFormation operations (query protocol): decoded params in, the stack service called, the
wire output back. The account is the caller's, the region the one the request was signed for."""

from __future__ import annotations

from typing import Any

from lamina.api.context import OperationResult, RequestContext
from lamina.deploy.errors import validation_error
from lamina.deploy.preparation import required_capability
from lamina.deploy.stacks import StackService
from lamina.deploy.templates import MAX_BODY_BYTES, parse_template
from lamina.errors import AwsError

__all__ = ["OPERATIONS", "StackOperations"]

OPERATIONS = (
    "CreateStack",
    "DescribeStacks",
    "ListStacks",
    "DeleteStack",
    "DescribeStackEvents",
    "DescribeStackResources",
    "DescribeStackResource",
    "ListStackResources",
    "GetTemplate",
    "ValidateTemplate",
    "GetTemplateSummary",
    "ListExports",
    "UpdateStack",
    "CreateChangeSet",
    "DescribeChangeSet",
    "ExecuteChangeSet",
    "DeleteChangeSet",
    "ListChangeSets",
)
_CHANGE_SET_SUMMARY = (
    "StackId",
    "StackName",
    "ChangeSetId",
    "ChangeSetName",
    "ExecutionStatus",
    "Status",
    "StatusReason",
    "CreationTime",
    "Description",
)


def _resource_entry(
    stack: dict[str, Any], record: dict[str, Any], time_name: str = "Timestamp"
) -> dict[str, Any]:
    entry = {
        "StackName": stack["StackName"],
        "StackId": stack["StackId"],
        "LogicalResourceId": record["LogicalResourceId"],
        "PhysicalResourceId": record.get("PhysicalResourceId"),
        "ResourceType": record["ResourceType"],
        time_name: record["Timestamp"],
        "ResourceStatus": record["ResourceStatus"],
        "DriftInformation": {"StackResourceDriftStatus": "NOT_CHECKED"},
    }
    if record.get("ResourceStatusReason"):
        entry["ResourceStatusReason"] = record["ResourceStatusReason"]
    return entry


def _described(stack: dict[str, Any]) -> dict[str, Any]:
    """A stack as DescribeStacks shows it, with the members AWS always writes (tools read them
    without checking: `sam delete` reads EnableTerminationProtection)."""
    return {
        "EnableTerminationProtection": False,
        "DriftInformation": {"StackDriftStatus": "NOT_CHECKED"},
        "RollbackConfiguration": {},
        **stack,
    }


class StackOperations:
    def __init__(self, service: StackService) -> None:
        self._service = service

    def _stack(self, params: dict[str, Any], context: RequestContext) -> dict[str, Any]:
        name = params.get("StackName")
        if not name:
            raise validation_error("Must specify either StackName or ChangeSetName")
        return self._service.stack(context.principal.account, context.region, str(name))

    async def _body(self, params: dict[str, Any], context: RequestContext) -> str:
        body = params.get("TemplateBody")
        if body is not None and len(str(body).encode("utf-8", "replace")) > MAX_BODY_BYTES:
            raise validation_error(
                "1 validation error detected: Value at 'templateBody' failed to satisfy constraint: "
                f"Member must have length less than or equal to {MAX_BODY_BYTES}"
            )
        found = await self._service.template_body(params, context.principal, context.region)
        if found is None:
            raise validation_error("Either Template URL or Template Body must be specified.")
        return found

    async def create_stack(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        stack_id = await self._service.create_stack(
            context.principal.account,
            context.region,
            context.principal,
            params,
            await self._body(params, context),
        )
        return OperationResult({"StackId": stack_id})

    async def describe_stacks(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        if params.get("StackName"):
            return OperationResult({"Stacks": [_described(self._stack(params, context))]})
        stacks = self._service.stacks(context.principal.account, context.region)
        return OperationResult(
            {"Stacks": [_described(stack) for stack in stacks if stack["StackStatus"] != "DELETE_COMPLETE"]}
        )

    async def list_stacks(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        wanted = set(params.get("StackStatusFilter") or [])
        summaries = []
        for stack in self._service.stacks(context.principal.account, context.region):
            if wanted and stack["StackStatus"] not in wanted:
                continue
            summary: dict[str, Any] = {
                name: stack[name]
                for name in (
                    "StackId",
                    "StackName",
                    "CreationTime",
                    "StackStatus",
                    "StackStatusReason",
                    "DeletionTime",
                    "LastUpdatedTime",
                )
                if name in stack
            }
            if stack.get("Description"):
                summary["TemplateDescription"] = stack["Description"]
            summaries.append(summary)
        return OperationResult({"StackSummaries": summaries})

    async def delete_stack(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        try:
            await self._service.delete_stack(context.principal.account, context.region, params["StackName"])
        except AwsError as error:
            if "does not exist" not in error.message:
                raise  # deleting a stack that is not there succeeds, as on AWS
        return OperationResult({})

    async def describe_stack_events(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return OperationResult({"StackEvents": self._stack(params, context)["events"]})

    async def describe_stack_resources(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        if not params.get("StackName"):
            raise validation_error(
                "StackName is required (Lamina does not look stacks up by PhysicalResourceId)"
            )
        stack = self._stack(params, context)
        wanted = params.get("LogicalResourceId")
        records = [record for logical, record in stack["resources"].items() if wanted in (None, logical)]
        return OperationResult({"StackResources": [_resource_entry(stack, record) for record in records]})

    async def describe_stack_resource(
        self, params: dict[str, Any], context: RequestContext
    ) -> OperationResult:
        stack = self._stack(params, context)
        record = stack["resources"].get(params["LogicalResourceId"])
        if record is None:
            raise validation_error(
                f"Resource {params['LogicalResourceId']} does not exist for stack {stack['StackName']}"
            )
        return OperationResult(
            {"StackResourceDetail": _resource_entry(stack, record, "LastUpdatedTimestamp")}
        )

    async def list_stack_resources(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        stack = self._stack(params, context)
        summaries = []
        for record in stack["resources"].values():
            entry = _resource_entry(stack, record, "LastUpdatedTimestamp")
            entry.pop("StackName")
            entry.pop("StackId")
            summaries.append(entry)
        return OperationResult({"StackResourceSummaries": summaries})

    async def get_template(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        source: dict[str, Any]
        if params.get("ChangeSetName"):
            _, change_set = self._service.change_set(
                context.principal.account, context.region, params["ChangeSetName"], params.get("StackName")
            )
            source = {"template": change_set.get("body", ""), "original_template": change_set.get("original")}
        else:
            source = self._stack(params, context)
        processed = str(source.get("template") or "")
        original = str(source.get("original_template") or processed)
        body = processed if params.get("TemplateStage") == "Processed" else original
        return OperationResult({"TemplateBody": body, "StagesAvailable": ["Original", "Processed"]})

    def _summary(self, body: str) -> dict[str, Any]:
        template = parse_template(body)
        parameters = []
        for name, spec in template.parameters.items():
            spec = spec or {}
            entry: dict[str, Any] = {
                "ParameterKey": name,
                "NoEcho": str(spec.get("NoEcho", "false")).lower() == "true",
            }
            if "Default" in spec:
                entry["DefaultValue"] = str(spec["Default"])
            if spec.get("Description"):
                entry["Description"] = str(spec["Description"])
            parameters.append(entry)
        output: dict[str, Any] = {"Parameters": parameters, "DeclaredTransforms": template.transforms}
        if template.description:
            output["Description"] = template.description
        capability = required_capability(template)
        if capability is not None:
            output["Capabilities"] = [capability]
            output["CapabilitiesReason"] = (
                "The following resource(s) require capabilities: ["
                + ", ".join(
                    sorted(
                        {
                            resource["Type"]
                            for resource in template.resources.values()
                            if resource["Type"].startswith("AWS::IAM::")
                        }
                    )
                )
                + "]"
            )
        return output

    async def validate_template(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        return OperationResult(self._summary(await self._body(params, context)))

    async def get_template_summary(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        if params.get("StackName"):
            stack = self._stack(params, context)
            body = str(stack.get("original_template") or stack["template"])  # its Transform declared
        else:
            body = await self._body(params, context)
        summary = self._summary(body)
        template = parse_template(body)
        summary["ResourceTypes"] = sorted({resource["Type"] for resource in template.resources.values()})
        summary["Version"] = str(template.document.get("AWSTemplateFormatVersion", "2010-09-09"))
        return OperationResult(summary)

    async def update_stack(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        body = None if params.get("UsePreviousTemplate") else await self._body(params, context)
        stack_id = await self._service.update_stack(
            context.principal.account, context.region, context.principal, params, body
        )
        return OperationResult({"StackId": stack_id})

    async def create_change_set(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        body = None if params.get("UsePreviousTemplate") else await self._body(params, context)
        change_set_id, stack_id = await self._service.create_change_set(
            context.principal.account, context.region, context.principal, params, body
        )
        return OperationResult({"Id": change_set_id, "StackId": stack_id})

    async def describe_change_set(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        _, change_set = self._service.change_set(
            context.principal.account, context.region, params["ChangeSetName"], params.get("StackName")
        )
        return OperationResult(change_set)

    async def execute_change_set(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        await self._service.execute_change_set(
            context.principal.account,
            context.region,
            context.principal,
            params["ChangeSetName"],
            params.get("StackName"),
        )
        return OperationResult({})

    async def delete_change_set(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        await self._service.delete_change_set(
            context.principal.account, context.region, params["ChangeSetName"], params.get("StackName")
        )
        return OperationResult({})

    async def list_change_sets(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        stack = self._stack(params, context)
        summaries = [
            {name: change_set[name] for name in _CHANGE_SET_SUMMARY if name in change_set}
            for change_set in stack.get("change_sets", {}).values()
        ]
        return OperationResult({"Summaries": summaries})

    async def list_exports(self, params: dict[str, Any], context: RequestContext) -> OperationResult:
        exports = self._service.exports(context.principal.account, context.region)
        return OperationResult(
            {
                "Exports": [
                    {"ExportingStackId": stack_id, "Name": name, "Value": value}
                    for name, (stack_id, value) in sorted(exports.items())
                ]
            }
        )
