"""How the CLI fails: one or two lines (what is wrong, then what to do) and a non-zero exit, never a
traceback for a user's mistake or a server that is down.

Commands raise `CliError`; `run` also turns usage errors and the usual outside failures (files,
an unreachable server, an AWS error answer) into that shape. LAMINA_DEBUG=1 shows the traceback of
an unexpected error.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import typer

# Exit statuses: 1 for a failure, 2 for a usage error (as click), 130 after Ctrl-C (as a shell).
FAILURE = 1
USAGE = 2
INTERRUPTED = 130


class CliError(Exception):
    """A failure the user can act on: `message` says what is wrong, `hint` (optional) what to do."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def run(main: Callable[..., Any]) -> None:
    """Call a click/typer app and exit with its status, printing failures as one or two lines."""
    try:
        status = main(standalone_mode=False)
    except CliError as error:
        _fail(error.message, error.hint)
    except typer.TyperException as error:  # typer's (vendored click's) usage and file errors
        context = getattr(error, "ctx", None)
        if type(error).__name__ == "NoArgsIsHelpError":
            print(error.format_message(), file=sys.stderr)  # the help itself
            sys.exit(USAGE)
        hint = f"see `{context.command_path} -h`" if context is not None else None
        _fail(error.format_message(), hint, error.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(INTERRUPTED)
    except Exception as error:
        if os.environ.get("LAMINA_DEBUG"):
            raise
        message, hint = describe(error)
        _fail(message, hint)
    sys.exit(status if isinstance(status, int) else 0)


def describe(error: Exception) -> tuple[str, str | None]:
    """(what is wrong, what to do) for an error a command did not handle itself. botocore's errors
    are recognised by class name (their modelled exceptions are generated subclasses), so the CLI
    does not import botocore to tell them apart."""
    if _is(error, "ReadTimeoutError"):
        return f"the server did not answer in time: {error}", "is it overloaded or stopped?"
    if _is(error, "EndpointConnectionError") or isinstance(error, ConnectionError):
        url = getattr(error, "kwargs", {}).get("endpoint_url", "the endpoint")
        return (
            f"no server answers at {url}",
            "start one with `lamina server`, or point at it with --endpoint-url or AWS_ENDPOINT_URL",
        )
    if _is(error, "NoCredentialsError") or _is(error, "PartialCredentialsError"):
        return "no AWS credentials", 'run `eval "$(lamina env)"` first'
    if _is(error, "ParamValidationError"):  # botocore refused the values before sending them
        return " ".join(str(error).split()), "check the values given on the command line"
    if _is(error, "ClientError"):
        details = getattr(error, "response", {}).get("Error", {})
        return f"{details.get('Code', 'error')}: {details.get('Message', error)}", None
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.strerror or error}: {error.filename}", None
    return (
        f"unexpected error: {type(error).__name__}: {error}",
        "run again with LAMINA_DEBUG=1 for the traceback, and report it",
    )


def _is(error: Exception, class_name: str) -> bool:
    return any(cls.__name__ == class_name for cls in type(error).__mro__)


def _fail(message: str, hint: str | None, status: int = FAILURE) -> None:
    print(f"lamina: {message}", file=sys.stderr)
    if hint:
        print(f"  {hint}", file=sys.stderr)
    sys.exit(status)
