"""`lamina init`, `deploy`, `invoke` and `dev`: the project commands, printing what they do."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from lamina.cli.errors import CliError
from lamina.config import Settings

if TYPE_CHECKING:
    from lamina.projects.connection import Connection

# The data directory's settings, made only when the AWS_* variables name no endpoint (making them
# reads the data directory, which a user of AWS_ENDPOINT_URL may not have here).
SettingsOf = Callable[[], Settings]

__all__ = ["connection_for", "deploy_command", "dev_command", "init_command", "invoke_command"]


def connection_for(settings_of: SettingsOf) -> Connection:
    """The AWS_* variables' endpoint, else the data directory's server as its root."""
    from lamina.cli.data_dir import root_credentials
    from lamina.projects.connection import Connection

    found = Connection.from_environment()
    if found is not None:
        return found
    settings = settings_of()
    credentials = root_credentials(settings)
    return Connection.with_credentials(
        settings.endpoint_url, credentials.access_key_id, credentials.secret_access_key, settings.region
    )


def _parameters(values: list[str]) -> dict[str, str]:
    parameters = {}
    for value in values:
        key, separator, text = value.partition("=")
        if not separator or not key:
            raise CliError(f"--parameter {value!r} is not KEY=VALUE")
        parameters[key] = text
    return parameters


def init_command(listing: bool, name: str | None, directory: Path | None) -> None:
    from lamina.blueprints.catalog import blueprint, blueprints, write_project
    from lamina.cli.tables import Justify, print_table

    if listing or name is None:
        rows = [[item.name, item.language, item.triggers, item.description] for item in blueprints()]
        left: Justify = "left"
        columns = [("blueprint", left), ("language", left), ("triggered by", left), ("what it is", left)]
        print_table("Blueprints", columns, rows)
        if not listing:
            typer.echo("\nlamina init --blueprint NAME [DIR] writes one as a project")
        return
    chosen = blueprint(name)
    if chosen is None:
        raise CliError(f"no blueprint named {name}", "`lamina init --list` shows them")
    target = directory or Path(name)
    try:
        written = write_project(chosen, target)
    except FileExistsError as error:
        raise CliError(str(error), "choose a new folder") from None
    typer.echo(f"Wrote the {chosen.name} blueprint to {target}/:")
    for path in written:
        typer.echo(f"  {path.relative_to(target)}")
    typer.echo(
        f"\nNext: cd {target} && lamina deploy && lamina invoke {chosen.function} --event events/event.json"
    )


def _say(text: str) -> None:
    typer.echo(text)
    sys.stdout.flush()


def deploy_command(
    settings_of: SettingsOf, directory: Path, stack_name: str | None, parameters: list[str]
) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    from lamina.projects.deploy import DeployFailed, deploy, local_url, stack_name_for

    connection = connection_for(settings_of)
    name = stack_name or stack_name_for(directory)
    try:
        deployment = deploy(connection, directory, name, _parameters(parameters), _say)
    except FileNotFoundError as error:
        raise CliError(str(error), "run it in a project folder (`lamina init` makes one)") from None
    except (DeployFailed, RuntimeError) as error:
        raise CliError(f"deploy failed: {error}") from None
    except (ClientError, BotoCoreError) as error:
        raise CliError(f"deploy failed: {error}") from None
    if deployment.changed:
        _say(f"\nStack {name}: {deployment.status}")
    if deployment.outputs:
        _say("\nOutputs:")
        width = max(len(key) for key in deployment.outputs)
        for key, value in deployment.outputs.items():
            _say(f"  {key:<{width}}  {value}")
            here = local_url(connection.endpoint_url, value)
            if here is not None:
                _say(f"  {'':<{width}}  (here: {here})")


def invoke_command(
    settings_of: SettingsOf, name: str, event: Path | None, stack_name: str | None, qualifier: str | None
) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    from lamina.projects.deploy import stack_name_for
    from lamina.projects.invoke import function_name, invoke

    payload = b"{}"
    if event is not None:
        try:
            payload = event.read_bytes() if str(event) != "-" else sys.stdin.buffer.read()
        except OSError as error:
            raise CliError(f"cannot read the event: {error}") from None
    connection = connection_for(settings_of)
    stack = stack_name or (stack_name_for(Path.cwd()) if Path("template.yaml").is_file() else None)
    try:
        function = function_name(connection, name, stack)
        invocation = invoke(connection, function, payload, qualifier)
    except (ClientError, BotoCoreError) as error:
        raise CliError(f"invoke failed: {error}") from None
    typer.echo(invocation.result_text())
    if invocation.log_tail:
        typer.echo("\n--- log tail ---")
        typer.echo(invocation.log_tail.rstrip())
    if invocation.error:
        raise typer.Exit(1)


def dev_command(
    settings_of: SettingsOf, directory: Path, stack_name: str | None, parameters: list[str]
) -> None:
    from lamina.projects.deploy import DeployFailed, stack_name_for
    from lamina.projects.dev import watch_project

    connection = connection_for(settings_of)
    try:
        watch_project(
            connection,
            directory,
            stack_name or stack_name_for(directory),
            _parameters(parameters),
            _say,
        )
    except FileNotFoundError as error:
        raise CliError(str(error), "run it in a project folder (`lamina init` makes one)") from None
    except DeployFailed as error:
        raise CliError(f"deploy failed: {error}") from None
