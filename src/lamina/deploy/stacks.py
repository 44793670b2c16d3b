"""CloudFormation stacks: created, described and deleted as CloudFormation does it, kept in the
resource store (a stack with its template, parameters, resources, outputs and events is one
document) and run in the background: CreateStack answers at once with the StackId, the stack is
CREATE_IN_PROGRESS until its resources are made, and its events say what happened to each.

Creation follows the dependency graph, independent resources together; a resource that fails
rolls the stack back (its created resources deleted, against the graph) to ROLLBACK_COMPLETE, or
leaves it CREATE_FAILED with DisableRollback. Every state change is stored before the next step,
so a server killed mid-operation finds the stack at its next start and finishes the job: a create
is rolled back, a rollback or delete is carried on."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from lamina.deploy.errors import (
    ResourceFailed,
    already_exists,
    insufficient_capabilities,
    no_such_stack,
    validation_error,
)
from lamina.deploy.graph import dependencies, dependents
from lamina.deploy.intrinsics import Evaluator, Unresolved
from lamina.deploy.parameters import displayed_parameters, resolve_parameters
from lamina.deploy.providers.base import Call, ProviderContext
from lamina.deploy.providers.registry import provider_for
from lamina.deploy.templates import Template, parse_template
from lamina.domain.iam.principals import Principal
from lamina.errors import AwsError
from lamina.store.resource_ports import ResourceKey, ResourceStore, Write

__all__ = ["STACK_KIND", "StackService"]

_log = logging.getLogger(__name__)
STACK_KIND = "cloudformation/stack"
MAX_EVENTS = 1000
STACK_TYPE = "AWS::CloudFormation::Stack"
_NAMED_IAM = {
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::Policy": "PolicyName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::User": "UserName",
    "AWS::IAM::Group": "GroupName",
}
IN_PROGRESS = ("CREATE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS", "DELETE_IN_PROGRESS")
# Calls to Lamina's APIs as a principal in a region.
CallsAs = Callable[[Principal, str], Call]


def _now() -> float:
    return round(time.time(), 3)


def required_capability(template: Template) -> str | None:
    """The capability a template's IAM resources need: CAPABILITY_NAMED_IAM for named ones."""
    needed = None
    for resource in template.resources.values():
        kind = resource.get("Type", "")
        if kind.startswith("AWS::IAM::"):
            needed = needed or "CAPABILITY_IAM"
            name_property = _NAMED_IAM.get(kind)
            if name_property and name_property in (resource.get("Properties") or {}):
                return "CAPABILITY_NAMED_IAM"
    return needed


class StackService:
    def __init__(self, store: ResourceStore, calls_as: CallsAs) -> None:
        self._store = store
        self._calls_as = calls_as
        self._stacks: dict[str, dict[str, Any]] = {}  # by StackId
        self._keys: dict[str, ResourceKey] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()

    # loading and resuming ------------------------------------------------------------------------
    async def load(self) -> None:
        stacks, keys = {}, {}
        for key, document in await self._store.list_kind(STACK_KIND):
            stacks[document["StackId"]] = document
            keys[document["StackId"]] = key
        self._stacks, self._keys = stacks, keys

    def resume(self) -> None:
        """Operations a stopped server left in progress: a create rolls back, a rollback or a
        delete goes on (after the functions can be reached: called once the server is up)."""
        for stack in list(self._stacks.values()):
            status = stack["StackStatus"]
            if status in ("CREATE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS"):
                self._start(self._rollback(stack, "The server stopped during the stack operation"))
            elif status == "DELETE_IN_PROGRESS":
                self._start(self._delete(stack))

    def _start(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # lookups -------------------------------------------------------------------------------------
    def stack(self, account: str, region: str, name_or_id: str) -> dict[str, Any]:
        """A live stack by name, or any stack (deleted ones too) by id."""
        found = self._stacks.get(name_or_id)
        if found is not None and (found["account"], found["region"]) == (account, region):
            return found
        for stack in self._stacks.values():
            if (stack["account"], stack["region"], stack["StackName"]) == (
                account,
                region,
                name_or_id,
            ) and stack["StackStatus"] != "DELETE_COMPLETE":
                return stack
        raise no_such_stack(name_or_id)

    def stacks(self, account: str, region: str) -> list[dict[str, Any]]:
        found = [
            stack
            for stack in self._stacks.values()
            if (stack["account"], stack["region"]) == (account, region)
        ]
        return sorted(found, key=lambda stack: stack["CreationTime"], reverse=True)

    def exports(self, account: str, region: str) -> dict[str, tuple[str, Any]]:
        """Export name → (exporting stack id, value), of live stacks."""
        found: dict[str, tuple[str, Any]] = {}
        for stack in self.stacks(account, region):
            if stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"):
                for output in stack.get("Outputs", []):
                    if output.get("ExportName"):
                        found[output["ExportName"]] = (stack["StackId"], output["OutputValue"])
        return found

    # persistence and events ----------------------------------------------------------------------
    async def _save(self, stack: dict[str, Any]) -> None:
        await self._store.apply([Write(self._keys[stack["StackId"]], stack)])

    @staticmethod
    def _event(
        stack: dict[str, Any],
        logical: str,
        kind: str,
        status: str,
        reason: str | None = None,
        physical: str | None = None,
        properties: dict[str, Any] | None = None,
    ) -> None:
        event: dict[str, Any] = {
            "StackId": stack["StackId"],
            "EventId": str(uuid.uuid4()),
            "StackName": stack["StackName"],
            "LogicalResourceId": logical,
            "PhysicalResourceId": physical or "",
            "ResourceType": kind,
            "Timestamp": _now(),
            "ResourceStatus": status,
        }
        if reason:
            event["ResourceStatusReason"] = reason
        if properties is not None:
            event["ResourceProperties"] = json.dumps(properties)
        stack["events"].insert(0, event)
        del stack["events"][MAX_EVENTS:]

    def _stack_status(self, stack: dict[str, Any], status: str, reason: str | None = None) -> None:
        stack["StackStatus"] = status
        if reason:
            stack["StackStatusReason"] = reason
        else:
            stack.pop("StackStatusReason", None)
        self._event(stack, stack["StackName"], STACK_TYPE, status, reason, stack["StackId"])

    # create --------------------------------------------------------------------------------------
    async def create_stack(
        self, account: str, region: str, principal: Principal, params: dict[str, Any], body: str
    ) -> str:
        name = params["StackName"]
        if (
            not name[:1].isalpha()
            or len(name) > 128
            or not all(c.isascii() and (c.isalnum() or c == "-") for c in name)
        ):
            raise validation_error(
                f"1 validation error detected: Value '{name}' at 'stackName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*"
            )
        template = parse_template(body)
        dependencies(template.resources, list(template.resources))  # cycles are refused at once
        capability = required_capability(template)
        if (
            capability is not None
            and capability not in (params.get("Capabilities") or [])
            and not (
                capability == "CAPABILITY_IAM"
                and "CAPABILITY_NAMED_IAM" in (params.get("Capabilities") or [])
            )
        ):
            raise insufficient_capabilities(capability)
        if template.transforms:
            raise validation_error(f"Transforms are not supported yet: {template.transforms}")
        values, raw = resolve_parameters(template.parameters, params.get("Parameters") or [])
        async with self._lock:
            if any(
                (other["account"], other["region"], other["StackName"]) == (account, region, name)
                and other["StackStatus"] != "DELETE_COMPLETE"
                for other in self._stacks.values()
            ):
                raise already_exists(name)
            stack_id = f"arn:aws:cloudformation:{region}:{account}:stack/{name}/{uuid.uuid4()}"
            stack: dict[str, Any] = {
                "StackId": stack_id,
                "StackName": name,
                "account": account,
                "region": region,
                "operator": asdict(principal),
                "CreationTime": _now(),
                "StackStatus": "CREATE_IN_PROGRESS",
                "DisableRollback": bool(params.get("DisableRollback"))
                or params.get("OnFailure") == "DO_NOTHING",
                "delete_on_failure": params.get("OnFailure") == "DELETE",
                "Capabilities": list(params.get("Capabilities") or []),
                "Tags": list(params.get("Tags") or []),
                "NotificationARNs": list(params.get("NotificationARNs") or []),
                "Parameters": displayed_parameters(template.parameters, raw),
                "parameter_values": values,
                "parameter_text": raw,
                "template": body,
                "resources": {},
                "events": [],
                "Outputs": [],
            }
            if template.description:
                stack["Description"] = template.description
            self._event(stack, name, STACK_TYPE, "CREATE_IN_PROGRESS", "User Initiated", stack_id)
            key = ResourceKey(STACK_KIND, account, region, stack_id)
            await self._store.apply([Write(key, stack)])
            self._stacks[stack_id] = stack
            self._keys[stack_id] = key
        self._start(self._create(stack))
        return stack_id

    def _context(self, stack: dict[str, Any]) -> ProviderContext:
        principal = Principal(**stack["operator"])
        call = self._calls_as(principal, stack["region"])
        return ProviderContext(call, stack["StackName"], stack["StackId"], stack["account"], stack["region"])

    def _evaluator(self, stack: dict[str, Any], template: Template) -> Evaluator:
        resources = stack["resources"]

        def physical_id(logical: str) -> Any:
            record = resources.get(logical)
            if record is None or not record.get("PhysicalResourceId"):
                raise Unresolved(logical)
            return record["PhysicalResourceId"]

        def attribute(logical: str, name: str) -> Any:
            record = resources.get(logical)
            if record is None or name not in record.get("attributes", {}):
                if record is not None and record.get("PhysicalResourceId"):
                    raise validation_error(
                        f"Template error: resource {logical} does not support attribute type {name} in Fn::GetAtt"
                    )
                raise Unresolved(f"{logical}.{name}")
            return record["attributes"][name]

        def import_value(name: str) -> Any:
            found = self.exports(stack["account"], stack["region"]).get(name)
            if found is None:
                raise validation_error(f"No export named {name} found.")
            stack.setdefault("imports", [])
            if name not in stack["imports"]:
                stack["imports"].append(name)
            return found[1]

        pseudo = {
            "AWS::AccountId": stack["account"],
            "AWS::Region": stack["region"],
            "AWS::StackName": stack["StackName"],
            "AWS::StackId": stack["StackId"],
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": stack.get("NotificationARNs", []),
        }
        return Evaluator(
            parameters=stack["parameter_values"],
            pseudo=pseudo,
            mappings=template.mappings,
            conditions=template.conditions,
            physical_id=physical_id,
            attribute=attribute,
            import_value=import_value,
            resource_names=frozenset(template.resources),
        )

    async def _create(self, stack: dict[str, Any]) -> None:
        template = parse_template(stack["template"])
        try:
            evaluator = self._evaluator(stack, template)
            active = [
                logical
                for logical, resource in template.resources.items()
                if "Condition" not in resource or evaluator.condition(str(resource["Condition"]))
            ]
            edges = dependencies(template.resources, active)
        except AwsError as error:
            await self._fail_create(stack, error.message)
            return
        failure = await self._create_resources(stack, template, evaluator, edges)
        if failure is None:
            try:
                stack["Outputs"] = self._outputs(stack, template, evaluator)
            except (AwsError, Unresolved) as error:
                failure = str(error.message if isinstance(error, AwsError) else error)
        if failure is not None:
            await self._fail_create(stack, failure)
            return
        self._stack_status(stack, "CREATE_COMPLETE")
        await self._save(stack)

    async def _create_resources(
        self, stack: dict[str, Any], template: Template, evaluator: Evaluator, edges: dict[str, set[str]]
    ) -> str | None:
        """Create every resource in dependency order; the failure's reason, or None."""
        context = self._context(stack)
        pending = set(edges)
        done: set[str] = set()
        running: dict[asyncio.Task[None], str] = {}
        failure: str | None = None
        while pending or running:
            if failure is None:
                for logical in sorted(node for node in pending if edges[node] <= done):
                    pending.discard(logical)
                    task = asyncio.get_running_loop().create_task(
                        self._create_one(stack, context, template, evaluator, logical)
                    )
                    running[task] = logical
            if not running:
                break
            finished, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in finished:
                logical = running.pop(task)
                error = task.exception()
                if error is None:
                    done.add(logical)
                elif failure is None:
                    failure = f"The following resource(s) failed to create: [{logical}]. "
            if failure is not None and not running:
                for logical in sorted(pending):
                    resource = template.resources[logical]
                    self._event(
                        stack, logical, resource["Type"], "CREATE_FAILED", "Resource creation cancelled"
                    )
                break
        return failure

    async def _create_one(
        self,
        stack: dict[str, Any],
        context: ProviderContext,
        template: Template,
        evaluator: Evaluator,
        logical: str,
    ) -> None:
        resource = template.resources[logical]
        kind = resource["Type"]
        record: dict[str, Any] = {
            "LogicalResourceId": logical,
            "ResourceType": kind,
            "ResourceStatus": "CREATE_IN_PROGRESS",
            "Timestamp": _now(),
            "attributes": {},
        }
        stack["resources"][logical] = record
        try:
            properties = evaluator.resolve(resource.get("Properties") or {})
        except (AwsError, Unresolved) as error:
            await self._resource_failed(
                stack, record, str(error.message if isinstance(error, AwsError) else error)
            )
            raise ResourceFailed(logical) from None
        self._event(stack, logical, kind, "CREATE_IN_PROGRESS", properties=properties)
        await self._save(stack)
        provider = provider_for(kind)
        if provider is None:
            await self._resource_failed(stack, record, f"Lamina does not support resource type {kind} yet")
            raise ResourceFailed(logical)
        record["properties"] = properties
        try:
            created = await provider.create(context, logical, properties)
        except (AwsError, ResourceFailed) as error:
            reason = (
                f'Resource handler returned message: "{error.message}" (HandlerErrorCode: {error.code})'
                if isinstance(error, AwsError)
                else str(error)
            )
            await self._resource_failed(stack, record, reason)
            raise ResourceFailed(logical) from None
        except Exception as error:  # a provider's own fault: the stack fails, the server goes on
            _log.exception("creating %s (%s) of stack %s failed", logical, kind, stack["StackName"])
            await self._resource_failed(stack, record, f"Internal failure: {error}")
            raise ResourceFailed(logical) from None
        record.update(
            PhysicalResourceId=created.physical_id,
            attributes=created.attributes,
            ResourceStatus="CREATE_COMPLETE",
            Timestamp=_now(),
        )
        self._event(
            stack, logical, kind, "CREATE_COMPLETE", physical=created.physical_id, properties=properties
        )
        await self._save(stack)

    async def _resource_failed(self, stack: dict[str, Any], record: dict[str, Any], reason: str) -> None:
        record.update(ResourceStatus="CREATE_FAILED", ResourceStatusReason=reason, Timestamp=_now())
        self._event(
            stack,
            record["LogicalResourceId"],
            record["ResourceType"],
            "CREATE_FAILED",
            reason,
            record.get("PhysicalResourceId"),
        )
        await self._save(stack)

    def _outputs(
        self, stack: dict[str, Any], template: Template, evaluator: Evaluator
    ) -> list[dict[str, Any]]:
        outputs = []
        taken = self.exports(stack["account"], stack["region"])
        for key, output in template.outputs.items():
            if "Condition" in output and not evaluator.condition(str(output["Condition"])):
                continue
            value = evaluator.resolve(output["Value"])
            entry: dict[str, Any] = {
                "OutputKey": key,
                "OutputValue": ",".join(map(str, value)) if isinstance(value, list) else str(value),
            }
            if output.get("Description"):
                entry["Description"] = str(output["Description"])
            export = output.get("Export")
            if isinstance(export, dict) and "Name" in export:
                export_name = str(evaluator.resolve(export["Name"]))
                if export_name in taken and taken[export_name][0] != stack["StackId"]:
                    raise validation_error(
                        f"Export with name {export_name} is already exported by stack {taken[export_name][0].split('/')[1]}"
                    )
                entry["ExportName"] = export_name
            outputs.append(entry)
        return outputs

    async def _fail_create(self, stack: dict[str, Any], reason: str) -> None:
        if stack["DisableRollback"]:
            self._stack_status(stack, "CREATE_FAILED", reason)
            await self._save(stack)
            return
        await self._rollback(stack, reason)

    # rollback and delete -------------------------------------------------------------------------
    async def _rollback(self, stack: dict[str, Any], reason: str) -> None:
        self._stack_status(stack, "ROLLBACK_IN_PROGRESS", reason)
        await self._save(stack)
        failures = await self._delete_resources(stack)
        if failures:
            self._stack_status(
                stack, "ROLLBACK_FAILED", f"The following resource(s) failed to delete: {failures}. "
            )
        else:
            self._stack_status(stack, "ROLLBACK_COMPLETE")
        await self._save(stack)
        if stack.get("delete_on_failure") and not failures:
            await self._delete(stack)

    async def delete_stack(self, account: str, region: str, name_or_id: str) -> None:
        stack = self.stack(account, region, name_or_id)
        if stack["StackStatus"] in ("DELETE_COMPLETE", "DELETE_IN_PROGRESS"):
            return
        if stack["StackStatus"] in IN_PROGRESS:
            raise validation_error(
                f"Stack [{stack['StackName']}] cannot be deleted while in status {stack['StackStatus']}"
            )
        for other in self.stacks(account, region):
            if other is stack or other["StackStatus"] == "DELETE_COMPLETE":
                continue
            for output in stack.get("Outputs", []):
                if output.get("ExportName") in other.get("imports", []):
                    raise validation_error(
                        f"Export {output['ExportName']} cannot be deleted as it is in use by {other['StackName']}"
                    )
        self._stack_status(stack, "DELETE_IN_PROGRESS", "User Initiated")
        await self._save(stack)
        self._start(self._delete(stack))

    async def _delete(self, stack: dict[str, Any]) -> None:
        if stack["StackStatus"] != "DELETE_IN_PROGRESS":
            self._stack_status(stack, "DELETE_IN_PROGRESS")
            await self._save(stack)
        failures = await self._delete_resources(stack)
        if failures:
            self._stack_status(
                stack, "DELETE_FAILED", f"The following resource(s) failed to delete: {failures}. "
            )
        else:
            self._stack_status(stack, "DELETE_COMPLETE")
            stack["DeletionTime"] = _now()
            stack["Outputs"] = []
        await self._save(stack)

    async def _delete_resources(self, stack: dict[str, Any]) -> list[str]:
        """Delete the stack's resources, those depending on others first; the logical ids of
        those that could not be deleted."""
        template = parse_template(stack["template"])
        records = stack["resources"]
        present = [
            logical
            for logical, record in records.items()
            if record.get("PhysicalResourceId") and record["ResourceStatus"] != "DELETE_COMPLETE"
        ]
        for logical, record in records.items():
            if logical not in present and record["ResourceStatus"] not in (
                "DELETE_COMPLETE",
                "DELETE_SKIPPED",
            ):
                record.update(ResourceStatus="DELETE_COMPLETE", Timestamp=_now())
                self._event(stack, logical, record["ResourceType"], "DELETE_COMPLETE")
        try:
            edges = dependencies(template.resources, present)
        except AwsError:
            edges = {logical: set() for logical in present}
        waiting_on = dependents(edges)
        context = self._context(stack)
        failures: list[str] = []
        deleted: set[str] = set()
        remaining = set(present)
        while remaining:
            ready = sorted(
                node for node in remaining if waiting_on.get(node, set()) <= deleted | set(failures)
            )
            if not ready:
                ready = sorted(remaining)
            results = await asyncio.gather(
                *(self._delete_one(stack, context, template, logical) for logical in ready)
            )
            for logical, ok in zip(ready, results, strict=True):
                remaining.discard(logical)
                (deleted.add(logical) if ok else failures.append(logical))
        return failures

    async def _delete_one(
        self, stack: dict[str, Any], context: ProviderContext, template: Template, logical: str
    ) -> bool:
        record = stack["resources"][logical]
        kind = record["ResourceType"]
        policy = (template.resources.get(logical) or {}).get("DeletionPolicy", "Delete")
        if policy == "Retain":
            record.update(ResourceStatus="DELETE_SKIPPED", Timestamp=_now())
            self._event(stack, logical, kind, "DELETE_SKIPPED", physical=record["PhysicalResourceId"])
            await self._save(stack)
            return True
        record.update(ResourceStatus="DELETE_IN_PROGRESS", Timestamp=_now())
        self._event(stack, logical, kind, "DELETE_IN_PROGRESS", physical=record["PhysicalResourceId"])
        await self._save(stack)
        provider = provider_for(kind)
        try:
            if provider is not None:
                await provider.delete(context, record["PhysicalResourceId"], record.get("properties") or {})
        except Exception as error:
            reason = error.message if isinstance(error, AwsError) else str(error)
            record.update(ResourceStatus="DELETE_FAILED", ResourceStatusReason=reason, Timestamp=_now())
            self._event(stack, logical, kind, "DELETE_FAILED", reason, record["PhysicalResourceId"])
            await self._save(stack)
            return False
        record.update(ResourceStatus="DELETE_COMPLETE", Timestamp=_now())
        self._event(stack, logical, kind, "DELETE_COMPLETE", physical=record["PhysicalResourceId"])
        await self._save(stack)
        return True
