"""Runtime names as AWS judges them: blocked ones with AWS's recommendation, unknown ones with
AWS's enum message, and every creatable name of AWS's model accepted."""

from __future__ import annotations

import pytest

from lamina.domain.runtimes import BLOCKED_RUNTIMES, aws_runtimes, check_aws_runtime, creatable_runtimes
from lamina.errors import AwsError


def refusal(runtime: str) -> AwsError:
    with pytest.raises(AwsError) as caught:
        check_aws_runtime(runtime)
    assert (caught.value.code, caught.value.status) == ("InvalidParameterValueException", 400)
    return caught.value


@pytest.mark.parametrize(
    ("runtime", "recommended"),
    [
        ("python3.7", "python3.12"),
        ("nodejs14.x", "nodejs20.x"),
        ("java8", "java21"),
        ("go1.x", "provided.al2023"),
        ("provided", "provided.al2023"),
    ],
)
def test_blocked_runtimes_get_awss_message_and_recommendation(runtime: str, recommended: str) -> None:
    assert refusal(runtime).message == (
        f"The runtime parameter of {runtime} is no longer supported for creating or updating AWS Lambda "
        f"functions. We recommend you use the new runtime ({recommended}) while creating or updating functions."
    )


@pytest.mark.parametrize("runtime", ["python3.99", "PYTHON3.11", "non-existent-runtime", ""])
def test_unknown_runtimes_get_the_enum_message_with_the_creatable_list(runtime: str) -> None:
    message = refusal(runtime).message
    assert message.startswith(
        f"Value {runtime} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: ["
    )
    assert message.endswith("] or be a valid ARN")
    listed = message[message.index("[") + 1 : message.index("]")].split(", ")
    assert listed == creatable_runtimes()
    assert "python3.12" in listed and "python3.7" not in listed


def test_every_creatable_runtime_of_awss_model_passes_and_recommendations_are_creatable() -> None:
    for runtime in creatable_runtimes():
        assert check_aws_runtime(runtime) == runtime
    assert set(BLOCKED_RUNTIMES) <= set(aws_runtimes())
    assert set(BLOCKED_RUNTIMES.values()) <= set(creatable_runtimes())
