"""Runtime names as AWS judges them, before Lamina asks whether this host can run one.

AWS's list is the `Runtime` enum of botocore's Lambda model. Of it, the runtimes AWS has blocked
for creating and updating functions get AWS's "no longer supported" message, naming the runtime
AWS recommends instead (the recommendations AWS gave when its answers were recorded); any other
name gets AWS's `InvalidParameterValueException` listing the valid values. Whether a valid runtime
can run on this host is a separate check (FunctionManager), with its own message.
"""

from __future__ import annotations

import functools

from lamina.errors import invalid_parameter

# Blocked for create and update on AWS -> the runtime AWS's message recommends.
BLOCKED_RUNTIMES: dict[str, str] = {
    "python2.7": "python3.12",
    "python3.6": "python3.12",
    "python3.7": "python3.12",
    "nodejs": "nodejs20.x",
    "nodejs4.3": "nodejs20.x",
    "nodejs4.3-edge": "nodejs20.x",
    "nodejs6.10": "nodejs20.x",
    "nodejs8.10": "nodejs20.x",
    "nodejs10.x": "nodejs20.x",
    "nodejs12.x": "nodejs18.x",
    "nodejs14.x": "nodejs20.x",
    "java8": "java21",
    "go1.x": "provided.al2023",
    "provided": "provided.al2023",
    "ruby2.5": "ruby3.2",
    "ruby2.7": "ruby3.2",
    "dotnetcore1.0": "dotnet6",
    "dotnetcore2.0": "dotnet6",
    "dotnetcore2.1": "dotnet6",
    "dotnetcore3.1": "dotnet6",
}


@functools.cache
def aws_runtimes() -> tuple[str, ...]:
    """Every runtime name in AWS's model, blocked ones included."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("lambda")
    return tuple(model.shape_for("Runtime").enum)


def creatable_runtimes() -> list[str]:
    """The names AWS accepts for creating and updating functions."""
    return [runtime for runtime in aws_runtimes() if runtime not in BLOCKED_RUNTIMES]


def check_aws_runtime(runtime: str) -> str:
    """AWS's answer to a runtime name it does not take, word for word."""
    if runtime in BLOCKED_RUNTIMES:
        raise invalid_parameter(
            f"The runtime parameter of {runtime} is no longer supported for creating or updating AWS "
            f"Lambda functions. We recommend you use the new runtime ({BLOCKED_RUNTIMES[runtime]}) while "
            "creating or updating functions."
        )
    if runtime not in aws_runtimes():
        raise invalid_parameter(
            f"Value {runtime} at 'runtime' failed to satisfy constraint: Member must satisfy enum value "
            f"set: [{', '.join(creatable_runtimes())}] or be a valid ARN"
        )
    return runtime


def language_of(runtime: str) -> str:
    """Which language a runtime name runs: python, nodejs, java, or provided (an OS-only one)."""
    for language in ("python", "nodejs", "java"):
        if runtime.startswith(language):
            return language
    return "provided"
