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
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from typing import Any

from lamina.deploy.changes import LIVE, plan_changes, replaces
from lamina.deploy.errors import (
    ResourceFailed,
    already_exists,
    no_such_stack,
    validation_error,
)
from lamina.deploy.graph import dependencies, dependents
from lamina.deploy.intrinsics import Evaluator, Unresolved
from lamina.deploy.parameters import displayed_parameters
from lamina.deploy.preparation import MAX_PROCESSED_BYTES, Prepared, TransformFailed, prepare
from lamina.deploy.providers.base import Call, ProviderContext
from lamina.deploy.providers.registry import provider_for
from lamina.deploy.template_urls import bucket_and_key
from lamina.deploy.templates import MAX_TEMPLATE_BYTES, Template, parse_template
from lamina.domain.iam.principals import Principal
from lamina.errors import AwsError
from lamina.store.resource_ports import ResourceKey, ResourceStore, Write

__all__ = ["STACK_KIND", "StackService"]

_log = logging.getLogger(__name__)
STACK_KIND = "cloudformation/stack"
MAX_EVENTS = 1000
STACK_TYPE = "AWS::CloudFormation::Stack"
IN_PROGRESS = (
    "CREATE_IN_PROGRESS",
    "ROLLBACK_IN_PROGRESS",
    "DELETE_IN_PROGRESS",
    "UPDATE_IN_PROGRESS",
    "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
    "UPDATE_ROLLBACK_IN_PROGRESS",
    "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
)
SETTLE_S = 5.0
UPDATABLE = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"})
NO_CHANGES = (
    "The submitted information didn't contain changes. Submit different information to create a change set."
)
# Calls to Lamina's APIs as a principal in a region.
CallsAs = Callable[[Principal, str], Call]


def _now() -> float:
    return round(time.time(), 3)


async def _in_dependency_order(
    edges: dict[str, set[str]], step: Callable[[str], Coroutine[Any, Any, None]]
) -> tuple[str | None, set[str]]:
    """Run `step` for every node once all it depends on are done, independent ones at once; after
    a step fails, none starts and the running ones finish. (The first node whose step failed, or
    None; the nodes never started.)"""
    pending, done = set(edges), set[str]()
    running: dict[asyncio.Task[None], str] = {}
    failed: str | None = None
    while pending or running:
        if failed is None:
            for node in sorted(node for node in pending if edges[node] <= done):
                pending.discard(node)
                running[asyncio.get_running_loop().create_task(step(node))] = node
        if not running:
            break
        finished, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        for task in finished:
            node = running.pop(task)
            if task.exception() is None:
                done.add(node)
            elif failed is None:
                failed = node
        if failed is not None and not running:
            break
    return failed, pending


def _original(stack: dict[str, Any]) -> str:
    """The template as its sender wrote it (before transforms): UsePreviousTemplate's."""
    return str(stack.get("original_template") or stack["template"])


def _reason(error: BaseException) -> str:
    if isinstance(error, AwsError):
        return error.message
    if isinstance(error, Unresolved):
        return f"Unresolved resource dependencies [{error}] in the Resources block of the template"
    return f"{type(error).__name__}: {error}"


def _provider_fault(logical: str, error: BaseException) -> str:
    """A provider's failure on properties of the wrong shape, said as CloudFormation says it."""
    if isinstance(error, (TypeError, KeyError, ValueError, AttributeError, IndexError)):
        return f"Properties validation failed for resource {logical} with message: {type(error).__name__}: {error}"
    return f"Internal failure: {error}"


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
            elif status in ("UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS"):
                self._start(self._rollback_update(stack, "The server stopped during the stack operation"))
            elif status == "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS":
                self._start(self._cleanup(stack))
            elif status == "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS":
                self._start(self._finish_update_rollback(stack))

    def _start(self, work: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run(self, work: Any) -> None:
        """Start a stack operation and answer once it is done, or after SETTLE_S: a waiter's first
        poll then usually finds the stack settled (AWS's waiters sleep 30 s between polls)."""
        task = self._start(work)
        await asyncio.wait({task}, timeout=SETTLE_S)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def template_body(self, params: dict[str, Any], principal: Principal, region: str) -> str | None:
        """The template a call gives: TemplateBody, or the object its TemplateURL names in one of
        Lamina's buckets (read as the caller); None when it gives neither."""
        if params.get("TemplateBody") is not None:
            return str(params["TemplateBody"])
        url = params.get("TemplateURL")
        if not url:
            return None
        location = bucket_and_key(str(url))
        if location is None:
            raise validation_error("TemplateURL must be a supported URL.")
        call = self._calls_as(principal, region)
        try:
            answer = await call("s3", "GetObject", {"Bucket": location[0], "Key": location[1]})
        except AwsError as error:
            raise validation_error(f"S3 error: {error.message}") from None
        data = answer.get("Body") or b""
        if len(data) > MAX_TEMPLATE_BYTES:
            raise validation_error(f"Template may not exceed {MAX_TEMPLATE_BYTES} bytes in size.")
        if isinstance(data, str):  # botocore's parser hands a payload it could decode as text
            return data
        try:
            return bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise validation_error("Template format error: the template is not UTF-8 text") from None

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
    @staticmethod
    def _check_name(name: str) -> None:
        if (
            not name[:1].isalpha()
            or len(name) > 128
            or not all(c.isascii() and (c.isalnum() or c == "-") for c in name)
        ):
            raise validation_error(
                f"1 validation error detected: Value '{name}' at 'stackName' failed to satisfy constraint: "
                "Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*"
            )

    @staticmethod
    def _reviewed(
        body: str, params: dict[str, Any], region: str, previous: dict[str, str] | None = None
    ) -> Prepared | TransformFailed:
        """A change set's template prepared; a transform's refusal is the change set's reason."""
        try:
            return prepare(body, params, region, previous, direct=False)
        except TransformFailed as failure:
            return failure

    def _new_stack(
        self, account: str, region: str, principal: Principal, params: dict[str, Any], status: str
    ) -> dict[str, Any]:
        name = params["StackName"]
        stack_id = f"arn:aws:cloudformation:{region}:{account}:stack/{name}/{uuid.uuid4()}"
        return {
            "StackId": stack_id,
            "StackName": name,
            "account": account,
            "region": region,
            "operator": asdict(principal),
            "CreationTime": _now(),
            "StackStatus": status,
            "DisableRollback": bool(params.get("DisableRollback")) or params.get("OnFailure") == "DO_NOTHING",
            "delete_on_failure": params.get("OnFailure") == "DELETE",
            "Capabilities": list(params.get("Capabilities") or []),
            "Tags": list(params.get("Tags") or []),
            "NotificationARNs": list(params.get("NotificationARNs") or []),
            "Parameters": [],
            "parameter_values": {},
            "parameter_text": {},
            "template": "",
            "resources": {},
            "events": [],
            "Outputs": [],
            "change_sets": {},
            "operation": uuid.uuid4().hex,
        }

    def _apply_template(self, stack: dict[str, Any], prepared: Prepared) -> None:
        stack.update(
            template=prepared.processed,
            original_template=prepared.original,
            parameter_values=prepared.values,
            parameter_text=prepared.raw,
            Parameters=displayed_parameters(prepared.template.parameters, prepared.raw),
        )
        if prepared.template.description:
            stack["Description"] = prepared.template.description
        else:
            stack.pop("Description", None)

    async def _register(self, stack: dict[str, Any]) -> None:
        """Store a new stack; AlreadyExistsException when a live one has its name."""
        account, region, name = stack["account"], stack["region"], stack["StackName"]
        if any(
            (other["account"], other["region"], other["StackName"]) == (account, region, name)
            and other["StackStatus"] != "DELETE_COMPLETE"
            for other in self._stacks.values()
        ):
            raise already_exists(name)
        key = ResourceKey(STACK_KIND, account, region, stack["StackId"])
        await self._store.apply([Write(key, stack)])
        self._stacks[stack["StackId"]] = stack
        self._keys[stack["StackId"]] = key

    async def create_stack(
        self, account: str, region: str, principal: Principal, params: dict[str, Any], body: str
    ) -> str:
        self._check_name(params["StackName"])
        prepared = prepare(body, params, region)
        stack = self._new_stack(account, region, principal, params, "CREATE_IN_PROGRESS")
        self._apply_template(stack, prepared)
        self._event(
            stack, stack["StackName"], STACK_TYPE, "CREATE_IN_PROGRESS", "User Initiated", stack["StackId"]
        )
        async with self._lock:
            await self._register(stack)
        await self._run(self._create(stack))
        return str(stack["StackId"])

    def _context(self, stack: dict[str, Any]) -> ProviderContext:
        principal = Principal(**stack["operator"])
        call = self._calls_as(principal, stack["region"])
        return ProviderContext(
            call,
            stack["StackName"],
            stack["StackId"],
            stack["account"],
            stack["region"],
            str(stack.get("operation") or ""),
        )

    def _evaluator(
        self, stack: dict[str, Any], template: Template, values: dict[str, Any] | None = None
    ) -> Evaluator:
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
            parameters=stack["parameter_values"] if values is None else values,
            pseudo=pseudo,
            mappings=template.mappings,
            conditions=template.conditions,
            physical_id=physical_id,
            attribute=attribute,
            import_value=import_value,
            resource_names=frozenset(template.resources),
        )

    async def _create(self, stack: dict[str, Any]) -> None:
        template = parse_template(stack["template"], limit=MAX_PROCESSED_BYTES)
        try:
            evaluator = self._evaluator(stack, template)
            active = [
                logical
                for logical, resource in template.resources.items()
                if "Condition" not in resource or evaluator.condition(str(resource["Condition"]))
            ]
            edges = dependencies(template.resources, active)
        except Exception as error:  # a template error, or arguments no function takes
            await self._fail_create(stack, _reason(error))
            return
        failure = await self._create_resources(stack, template, evaluator, edges)
        if failure is None:
            try:
                stack["Outputs"] = self._outputs(stack, template, evaluator)
            except Exception as error:
                failure = _reason(error)
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
        failed, never_started = await _in_dependency_order(
            edges, lambda logical: self._create_one(stack, context, template, evaluator, logical)
        )
        if failed is None:
            return None
        for logical in sorted(never_started):
            kind = template.resources[logical]["Type"]
            self._event(stack, logical, kind, "CREATE_FAILED", "Resource creation cancelled")
        return f"The following resource(s) failed to create: [{failed}]. "

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
            await self._resource_failed(stack, record, _provider_fault(logical, error))
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
        await self._run(self._delete(stack))

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

    async def _orphan(
        self, stack: dict[str, Any], kind: str, logical: str, properties: dict[str, Any]
    ) -> str | None:
        """The physical id of what a create cut short may have made (its call done, its record
        never stored: a crash between the two), where the provider can find it."""
        provider = provider_for(kind)
        finder = getattr(provider, "made_by", None)
        if finder is None:
            return None
        try:
            found: str | None = await finder(self._context(stack), logical, properties)
        except Exception as error:
            _log.warning("looking for %s of stack %s: %s", logical, stack["StackName"], error)
            return None
        return found

    async def _delete_resources(self, stack: dict[str, Any]) -> list[str]:
        """Delete the stack's resources, those depending on others first; the logical ids of
        those that could not be deleted."""
        records = stack["resources"]
        for logical, record in records.items():
            if record["ResourceStatus"] == "CREATE_IN_PROGRESS" and not record.get("PhysicalResourceId"):
                found = await self._orphan(
                    stack, record["ResourceType"], logical, record.get("properties") or {}
                )
                if found is not None:
                    record["PhysicalResourceId"] = found
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
        if not present:  # nothing made (a stack a CREATE change set left in review, say)
            return []
        template = parse_template(stack["template"], limit=MAX_PROCESSED_BYTES)
        return await self._delete_named(stack, self._context(stack), template, present)

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

    # update --------------------------------------------------------------------------------------
    def _updatable(self, stack: dict[str, Any]) -> None:
        if stack["StackStatus"] not in UPDATABLE:
            raise validation_error(
                f"Stack:{stack['StackId']} is in {stack['StackStatus']} state and can not be updated."
            )

    def _plan(
        self, stack: dict[str, Any], template: Template, values: dict[str, Any]
    ) -> list[dict[str, Any]]:
        evaluator = self._evaluator(stack, template, values)
        active = [
            logical
            for logical, resource in template.resources.items()
            if "Condition" not in resource or evaluator.condition(str(resource["Condition"]))
        ]
        return plan_changes(stack["resources"], template, evaluator, active)

    async def update_stack(
        self, account: str, region: str, principal: Principal, params: dict[str, Any], body: str | None
    ) -> str:
        stack = self.stack(account, region, params["StackName"])
        self._updatable(stack)
        body = _original(stack) if params.get("UsePreviousTemplate") or body is None else body
        prepared = prepare(body, params, region, stack["parameter_text"])
        if (
            not self._plan(stack, prepared.template, prepared.values)
            and prepared.processed == stack["template"]
            and prepared.raw == stack["parameter_text"]
        ):
            raise validation_error("No updates are to be performed.")
        await self._begin_update(stack, principal, prepared)
        return str(stack["StackId"])

    async def _begin_update(self, stack: dict[str, Any], principal: Principal, prepared: Prepared) -> None:
        stack["previous"] = {
            "template": stack["template"],
            "original_template": _original(stack),
            "parameter_values": stack["parameter_values"],
            "parameter_text": stack["parameter_text"],
            "Parameters": stack["Parameters"],
            "Outputs": stack["Outputs"],
            "Description": stack.get("Description"),
        }
        stack["touched"] = []  # {logical, action: created|updated|replaced, old: the record before}
        stack["operator"] = asdict(principal)
        stack["operation"] = uuid.uuid4().hex
        self._apply_template(stack, prepared)
        stack["LastUpdatedTime"] = _now()
        self._stack_status(stack, "UPDATE_IN_PROGRESS", "User Initiated")
        await self._save(stack)
        await self._run(self._update(stack))

    async def _update(self, stack: dict[str, Any]) -> None:
        template = parse_template(stack["template"], limit=MAX_PROCESSED_BYTES)
        try:
            evaluator = self._evaluator(stack, template)
            active = [
                logical
                for logical, resource in template.resources.items()
                if "Condition" not in resource or evaluator.condition(str(resource["Condition"]))
            ]
            edges = dependencies(template.resources, active)
        except Exception as error:
            await self._rollback_update(stack, _reason(error))
            return
        context = self._context(stack)
        failed, _ = await _in_dependency_order(
            edges, lambda logical: self._update_one(stack, context, template, evaluator, logical)
        )
        failure = None if failed is None else f"The following resource(s) failed to update: [{failed}]. "
        if failure is None:
            try:
                stack["Outputs"] = self._outputs(stack, template, evaluator)
            except Exception as error:
                failure = _reason(error)
        if failure is not None:
            await self._rollback_update(stack, failure)
            return
        stack["removed"] = sorted(set(stack["resources"]) - set(active))
        self._stack_status(stack, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
        await self._save(stack)
        await self._cleanup(stack)

    async def _update_one(
        self,
        stack: dict[str, Any],
        context: ProviderContext,
        template: Template,
        evaluator: Evaluator,
        logical: str,
    ) -> None:
        resource = template.resources[logical]
        kind = resource["Type"]
        record = stack["resources"].get(logical)
        if record is None or record.get("ResourceStatus") not in LIVE:
            stack["touched"].append({"logical": logical, "action": "created", "old": None})
            await self._create_one(stack, context, template, evaluator, logical)
            return
        try:
            properties = evaluator.resolve(resource.get("Properties") or {})
        except (AwsError, Unresolved) as error:
            await self._update_failed(
                stack, record, str(error.message if isinstance(error, AwsError) else error)
            )
            raise ResourceFailed(logical) from None
        previous = record.get("properties") or {}
        if record["ResourceType"] == kind and properties == previous:
            return
        changed = sorted(
            name for name in set(previous) | set(properties) if previous.get(name) != properties.get(name)
        )
        provider = provider_for(kind)
        if provider is None:
            await self._update_failed(stack, record, f"Lamina does not support resource type {kind} yet")
            raise ResourceFailed(logical)
        old = json.loads(json.dumps(record))
        replacing = record["ResourceType"] != kind or replaces(kind, changed)
        record.update(ResourceStatus="UPDATE_IN_PROGRESS", Timestamp=_now())
        reason = (
            "Requested update requires the creation of a new physical resource; hence creating one."
            if replacing
            else None
        )
        self._event(
            stack, logical, kind, "UPDATE_IN_PROGRESS", reason, record.get("PhysicalResourceId"), properties
        )
        stack["touched"].append(
            {
                "logical": logical,
                "action": "replaced" if replacing else "updated",
                "old": old,
                "new_properties": properties,  # what a crash mid-create may have made, found by
            }
        )
        await self._save(stack)
        try:
            if replacing:
                created = await provider.create(context, logical, properties)
            else:
                created = await provider.update(
                    context, logical, record["PhysicalResourceId"], properties, previous
                )
        except (AwsError, ResourceFailed) as error:
            message = (
                f'Resource handler returned message: "{error.message}" (HandlerErrorCode: {error.code})'
                if isinstance(error, AwsError)
                else str(error)
            )
            await self._update_failed(stack, record, message)
            raise ResourceFailed(logical) from None
        except Exception as error:  # a provider's own fault: the stack fails, the server goes on
            _log.exception("updating %s (%s) of stack %s failed", logical, kind, stack["StackName"])
            await self._update_failed(stack, record, _provider_fault(logical, error))
            raise ResourceFailed(logical) from None
        record.update(
            ResourceType=kind,
            PhysicalResourceId=created.physical_id,
            attributes=created.attributes,
            properties=properties,
            ResourceStatus="UPDATE_COMPLETE",
            Timestamp=_now(),
        )
        record.pop("ResourceStatusReason", None)
        self._event(
            stack, logical, kind, "UPDATE_COMPLETE", physical=created.physical_id, properties=properties
        )
        await self._save(stack)

    async def _update_failed(self, stack: dict[str, Any], record: dict[str, Any], reason: str) -> None:
        record.update(ResourceStatus="UPDATE_FAILED", ResourceStatusReason=reason, Timestamp=_now())
        self._event(
            stack,
            record["LogicalResourceId"],
            record["ResourceType"],
            "UPDATE_FAILED",
            reason,
            record.get("PhysicalResourceId"),
        )
        await self._save(stack)

    async def _cleanup(self, stack: dict[str, Any]) -> None:
        """After a successful update: the replaced resources' old physical ones, and the removed
        resources, are deleted."""
        context = self._context(stack)
        previous = parse_template(stack["previous"]["template"], limit=MAX_PROCESSED_BYTES)
        for entry in reversed(stack.get("touched", [])):
            if entry["action"] == "replaced" and entry.get("old"):
                old = entry["old"]
                provider = provider_for(old["ResourceType"])
                with contextlib.suppress(Exception):
                    if provider is not None:
                        await provider.delete(context, old["PhysicalResourceId"], old.get("properties") or {})
                    self._event(
                        stack,
                        entry["logical"],
                        old["ResourceType"],
                        "DELETE_COMPLETE",
                        physical=old["PhysicalResourceId"],
                    )
        removed = [logical for logical in stack.get("removed", []) if logical in stack["resources"]]
        if removed:
            failures = await self._delete_named(stack, context, previous, removed)
            for logical in removed:
                if logical not in failures:
                    stack["resources"].pop(logical, None)
        for name in ("previous", "touched", "removed"):
            stack.pop(name, None)
        self._stack_status(stack, "UPDATE_COMPLETE")
        await self._save(stack)

    async def _delete_named(
        self, stack: dict[str, Any], context: ProviderContext, template: Template, names: list[str]
    ) -> list[str]:
        """Delete these resources, dependents first; the names that could not be deleted."""
        try:
            edges = dependencies(template.resources, [name for name in names if name in template.resources])
        except AwsError:
            edges = {}
        waiting_on = dependents(edges)
        failures: list[str] = []
        deleted: set[str] = set()
        remaining = set(names)
        while remaining:
            ready = sorted(
                node for node in remaining if waiting_on.get(node, set()) <= deleted | set(failures)
            ) or sorted(remaining)
            results = await asyncio.gather(
                *(self._delete_one(stack, context, template, logical) for logical in ready)
            )
            for logical, ok in zip(ready, results, strict=True):
                remaining.discard(logical)
                (deleted.add(logical) if ok else failures.append(logical))
        return failures

    async def _rollback_update(self, stack: dict[str, Any], reason: str) -> None:
        """Undo what an update did, newest first: made resources deleted, replaced ones deleted
        (the old ones were kept), updated ones set back; then the previous template."""
        if stack["StackStatus"] != "UPDATE_ROLLBACK_IN_PROGRESS":
            self._stack_status(stack, "UPDATE_ROLLBACK_IN_PROGRESS", reason)
            await self._save(stack)
        context = self._context(stack)
        touched = stack.get("touched", [])
        while touched:
            entry = touched[-1]
            logical, action, old = entry["logical"], entry["action"], entry.get("old")
            record = stack["resources"].get(logical) or {}
            provider = provider_for(record.get("ResourceType", "")) if record else None
            await self._adopt_cut_short(stack, entry, record)
            try:
                if (
                    action in ("created", "replaced")
                    and record.get("PhysicalResourceId")
                    and (old is None or record["PhysicalResourceId"] != old.get("PhysicalResourceId"))
                ):
                    if provider is not None:
                        await provider.delete(
                            context, record["PhysicalResourceId"], record.get("properties") or {}
                        )
                elif action == "updated" and old is not None and provider is not None:
                    await provider.update(
                        context,
                        logical,
                        old["PhysicalResourceId"],
                        old.get("properties") or {},
                        record.get("properties") or {},
                    )
            except Exception as error:
                _log.warning("rolling back %s of stack %s: %s", logical, stack["StackName"], error)
            if old is None:
                stack["resources"].pop(logical, None)
                self._event(
                    stack,
                    logical,
                    record.get("ResourceType", ""),
                    "DELETE_COMPLETE",
                    physical=record.get("PhysicalResourceId"),
                )
            else:
                stack["resources"][logical] = {
                    **old,
                    "ResourceStatus": "UPDATE_COMPLETE",
                    "Timestamp": _now(),
                }
                self._event(
                    stack,
                    logical,
                    old["ResourceType"],
                    "UPDATE_COMPLETE",
                    physical=old.get("PhysicalResourceId"),
                )
            touched.pop()
            await self._save(stack)
        await self._finish_update_rollback(stack)

    async def _adopt_cut_short(
        self, stack: dict[str, Any], entry: dict[str, Any], record: dict[str, Any]
    ) -> None:
        """An update's create (a new resource, or a replacement) whose record a crash kept from
        being stored: what it made is found and recorded, so the rollback deletes it."""
        old = entry.get("old")
        if entry["action"] == "created" and record and not record.get("PhysicalResourceId"):
            properties = record.get("properties") or {}
        elif (
            entry["action"] == "replaced"
            and old
            and record.get("PhysicalResourceId") == old.get("PhysicalResourceId")
        ):
            properties = entry.get("new_properties") or {}
        else:
            return
        found = await self._orphan(stack, record.get("ResourceType", ""), entry["logical"], properties)
        if found is not None:
            record.update(PhysicalResourceId=found, properties=properties)

    async def _finish_update_rollback(self, stack: dict[str, Any]) -> None:
        previous = stack.get("previous") or {}
        for name in (
            "template",
            "original_template",
            "parameter_values",
            "parameter_text",
            "Parameters",
            "Outputs",
        ):
            if name in previous:
                stack[name] = previous[name]
        if previous.get("Description"):
            stack["Description"] = previous["Description"]
        for name in ("previous", "touched", "removed"):
            stack.pop(name, None)
        self._stack_status(stack, "UPDATE_ROLLBACK_COMPLETE")
        await self._save(stack)

    # change sets ---------------------------------------------------------------------------------
    async def create_change_set(
        self, account: str, region: str, principal: Principal, params: dict[str, Any], body: str | None
    ) -> tuple[str, str]:
        """(ChangeSetId, StackId). A CREATE change set makes the stack (REVIEW_IN_PROGRESS)."""
        name = str(params["ChangeSetName"])
        if (
            not name[:1].isalpha()
            or len(name) > 128
            or not all(c.isascii() and (c.isalnum() or c == "-") for c in name)
        ):
            raise validation_error(f"ChangeSetName {name[:128]} must match [a-zA-Z][-a-zA-Z0-9]*")
        kind = params.get("ChangeSetType") or "UPDATE"
        if kind == "CREATE":
            self._check_name(params["StackName"])
            if body is None:
                raise validation_error("Either Template URL or Template Body must be specified.")
            prepared = self._reviewed(body, params, region)
            stack = self._new_stack(account, region, principal, params, "REVIEW_IN_PROGRESS")
            self._event(
                stack,
                stack["StackName"],
                STACK_TYPE,
                "REVIEW_IN_PROGRESS",
                "User Initiated",
                stack["StackId"],
            )
            async with self._lock:
                await self._register(stack)
        elif kind == "UPDATE":
            stack = self.stack(account, region, params["StackName"])
            if stack["StackStatus"] == "REVIEW_IN_PROGRESS":
                raise validation_error(f"Stack [{stack['StackName']}] does not exist")
            self._updatable(stack)
            body = _original(stack) if params.get("UsePreviousTemplate") or body is None else body
            prepared = self._reviewed(body, params, region, stack["parameter_text"])
        else:
            raise validation_error(f"ChangeSetType {kind} is not supported")
        if name in stack["change_sets"]:
            raise AwsError("AlreadyExistsException", f"ChangeSet {name} already exists", 400)
        change_set_id = f"arn:aws:cloudformation:{region}:{account}:changeSet/{name}/{uuid.uuid4()}"
        change_set: dict[str, Any] = {
            "ChangeSetName": name,
            "ChangeSetId": change_set_id,
            "StackId": stack["StackId"],
            "StackName": stack["StackName"],
            "CreationTime": _now(),
            "Type": kind,
            "Capabilities": list(params.get("Capabilities") or []),
            "NotificationARNs": list(params.get("NotificationARNs") or []),
            "Tags": list(params.get("Tags") or []),
        }
        if isinstance(prepared, TransformFailed):  # shown on the change set, as on AWS
            change_set |= {
                "Status": "FAILED",
                "ExecutionStatus": "UNAVAILABLE",
                "StatusReason": prepared.message,
                "Parameters": [],
                "Changes": [],
                "original": body,  # GetTemplate's Original stage shows what was sent
            }
        else:
            changes = self._plan(stack, prepared.template, prepared.values)
            empty = (
                not changes
                and prepared.processed == stack["template"]
                and prepared.raw == stack["parameter_text"]
            )
            change_set |= {
                "Status": "FAILED" if empty else "CREATE_COMPLETE",
                "ExecutionStatus": "UNAVAILABLE" if empty else "AVAILABLE",
                "Parameters": displayed_parameters(prepared.template.parameters, prepared.raw),
                "Changes": [{"Type": "Resource", "ResourceChange": change} for change in changes],
                "body": prepared.processed,
                "original": prepared.original,
                "parameter_values": prepared.values,
                "parameter_text": prepared.raw,
            }
            if empty:
                change_set["StatusReason"] = NO_CHANGES
        if params.get("Description"):
            change_set["Description"] = str(params["Description"])
        stack["change_sets"][name] = change_set
        await self._save(stack)
        return change_set_id, str(stack["StackId"])

    def change_set(
        self, account: str, region: str, name: str, stack_name: str | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """(stack, change set) by the change set's ARN, or its name and the stack's."""
        if name.startswith("arn:aws:cloudformation:"):
            for stack in self.stacks(account, region):
                for change_set in stack.get("change_sets", {}).values():
                    if change_set["ChangeSetId"] == name:
                        return stack, change_set
        elif stack_name:
            stack = self.stack(account, region, stack_name)
            change_set = stack.get("change_sets", {}).get(name)
            if change_set is not None:
                return stack, change_set
        raise AwsError("ChangeSetNotFound", f"ChangeSet [{name}] does not exist", 404)

    async def execute_change_set(
        self, account: str, region: str, principal: Principal, name: str, stack_name: str | None
    ) -> None:
        stack, change_set = self.change_set(account, region, name, stack_name)
        if change_set["ExecutionStatus"] != "AVAILABLE":
            raise AwsError(
                "InvalidChangeSetStatus",
                f"ChangeSet [{change_set['ChangeSetId']}] cannot be executed in its current status of [{change_set['Status']}]",
                400,
            )
        prepared = Prepared(
            parse_template(change_set["body"], limit=MAX_PROCESSED_BYTES),
            change_set["parameter_values"],
            change_set["parameter_text"],
            change_set.get("original", change_set["body"]),
        )
        stack["change_sets"] = {}  # executing one removes the stack's change sets, as on AWS
        if change_set["Type"] == "CREATE":
            self._apply_template(stack, prepared)
            stack["operator"] = asdict(principal)
            self._stack_status(stack, "CREATE_IN_PROGRESS", "User Initiated")
            await self._save(stack)
            await self._run(self._create(stack))
        else:
            self._updatable(stack)
            await self._begin_update(stack, principal, prepared)

    async def delete_change_set(self, account: str, region: str, name: str, stack_name: str | None) -> None:
        stack, change_set = self.change_set(account, region, name, stack_name)
        if change_set["ExecutionStatus"] == "EXECUTE_IN_PROGRESS":
            raise AwsError("InvalidChangeSetStatus", "A change set being executed cannot be deleted", 400)
        del stack["change_sets"][change_set["ChangeSetName"]]
        await self._save(stack)
