"""`lamina dev`: a project kept deployed while it is edited. The first pass deploys the stack;
then the project folder is watched (watchfiles) and a saved file in a function's code folder is
zipped and sent with UpdateFunctionCode straight away (no stack operation: well under a second),
so the next invocation runs it; a saved template redeploys the stack."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from lamina.projects.build import CodeFolder, package_folder
from lamina.projects.connection import Connection
from lamina.projects.deploy import TEMPLATE_NAMES, DeployFailed, Deployment, deploy

__all__ = ["watch_project"]

_IGNORED_PARTS = frozenset({".lamina", ".aws-sam", "__pycache__", ".git", "node_modules", ".venv"})
Say = Callable[[str], None]


def _relevant(paths: Iterable[str], root: Path) -> list[Path]:
    found = []
    for name in paths:
        path = Path(name)
        try:
            relative = path.resolve().relative_to(root)
        except ValueError:
            continue
        if not _IGNORED_PARTS & set(relative.parts) and not path.name.endswith((".pyc", "~", ".swp")):
            found.append(path.resolve())
    return found


def _physical_functions(connection: Connection, stack_name: str) -> dict[str, str]:
    resources = connection.client("cloudformation").describe_stack_resources(StackName=stack_name)
    return {
        resource["LogicalResourceId"]: resource["PhysicalResourceId"]
        for resource in resources["StackResources"]
        if resource["ResourceType"] == "AWS::Lambda::Function"
    }


def _settled(lambda_client: Any, function: str, timeout: float = 30) -> None:
    """Until the function's last update is done: Lambda refuses an update while one is in progress
    (an editor's save can be two writes, so two updates come close together)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = lambda_client.get_function_configuration(FunctionName=function).get("LastUpdateStatus")
        if status != "InProgress":
            return
        time.sleep(0.05)


def _update_code(code: CodeFolder, function: str, cache: Path, say: Say, lambda_client: Any) -> None:
    started = time.perf_counter()
    package = package_folder(code, cache)
    _settled(lambda_client, function)
    lambda_client.update_function_code(FunctionName=function, ZipFile=package)
    _settled(lambda_client, function)
    took = (time.perf_counter() - started) * 1000
    say(f"updated {code.logical_id} ({function}) in {took:.0f} ms")


def watch_project(
    connection: Connection,
    directory: Path,
    stack_name: str,
    parameters: dict[str, str],
    say: Say,
    stop: Any = None,
) -> None:
    """Deploy, then follow edits until interrupted (or until the `stop` event is set)."""
    from watchfiles import watch

    root = directory.resolve()
    cache = root / ".lamina" / "requirements"
    deployment: Deployment = deploy(connection, root, stack_name, parameters, say)
    functions = _physical_functions(connection, stack_name)
    lambda_client = connection.client("lambda")
    say(f"watching {root} for changes (Ctrl-C to stop)")
    for changes in watch(root, debounce=50, step=20, stop_event=stop, raise_interrupt=False):
        changed = _relevant((path for _, path in changes), root)
        if not changed:
            continue
        try:
            if any(path.name in TEMPLATE_NAMES and path.parent == root for path in changed):
                say("template changed: deploying the stack")
                deployment = deploy(connection, root, stack_name, parameters, say)
                functions = _physical_functions(connection, stack_name)
                continue
            for code in deployment.code:
                if code.kind != "function" or code.logical_id not in functions:
                    continue
                if any(path.is_relative_to(code.folder) for path in changed):
                    _update_code(code, functions[code.logical_id], cache, say, lambda_client)
        except (DeployFailed, RuntimeError, OSError) as error:
            say(f"not deployed: {error}")
        except Exception as error:  # an AWS error answer: said, and the watch goes on
            say(f"not deployed: {type(error).__name__}: {error}")
