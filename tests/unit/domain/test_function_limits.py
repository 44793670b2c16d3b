"""The operator's limits: AWS's unless raised, an account's own replacing the server's, the admin
API's document checked field by field, and LAMINA_CPUS within the ceiling."""

from __future__ import annotations

import pytest

from lamina.domain.function_limits import (
    AWS_MAX_PAYLOAD_BYTES,
    FunctionLimits,
    function_cpus,
    limits_document,
    limits_from_document,
)
from lamina.errors import AwsError


def message(call: object, *args: object) -> str:
    with pytest.raises(AwsError) as failure:
        call(*args)  # type: ignore[operator]
    assert failure.value.code == "InvalidParameterValueException"
    return failure.value.message


def test_the_defaults_are_awss() -> None:
    limits = FunctionLimits()
    assert limits.check_timeout(900) == 900 and limits.check_memory(10240) == 10240
    assert limits.max_payload_bytes == AWS_MAX_PAYLOAD_BYTES == 6_291_456
    assert limits.max_response_bytes == 6_291_556  # AWS's "(6291556 bytes)"
    assert message(limits.check_timeout, 901).endswith("between 1 and 900")


def test_raised_limits_name_their_own_ceiling() -> None:
    limits = FunctionLimits().overridden({"max_timeout_s": 7200, "max_memory_mb": 65536})
    assert limits.check_timeout(7200) == 7200 and limits.check_memory(65536) == 65536
    assert message(limits.check_timeout, 7201) == (
        "'7201' at 'timeout' failed to satisfy constraint: Member must have value between 1 and 7200"
    )
    assert message(limits.check_memory, 127).endswith("between 128 and 65536")
    assert limits.max_ephemeral_mb == 10240  # what was not given stays the server's


def test_an_accounts_document_is_parsed_in_the_clis_units() -> None:
    own = limits_from_document({"MaxTimeout": 7200, "MaxPayload": 64, "MaxCpus": 2.5})
    assert own == {"max_timeout_s": 7200, "max_payload_bytes": 64 * 1024 * 1024, "max_cpus": 2.5}
    assert limits_document(own) == {"MaxTimeout": 7200, "MaxPayload": 64, "MaxCpus": 2.5}


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ([], "The body must be a JSON object."),
        ({"MaxTimeout": "7200"}, "MaxTimeout must be a whole number, not '7200'."),
        ({"MaxTimeout": True}, "MaxTimeout must be a whole number, not True."),
        ({"MaxMemory": 1.5}, "MaxMemory must be a whole number, not 1.5."),
        ({"MaxTimeout": 0}, "MaxTimeout must be from 1 to 604800 seconds."),
        ({"MaxTimeout": 10**30}, "MaxTimeout must be from 1 to 604800 seconds."),
        ({"MaxEphemeralStorage": 100}, "MaxEphemeralStorage must be from 512 to 4194304 MB."),
        ({"MaxCpus": 0}, "MaxCpus must be from 0.01 to 1024 CPUs."),
        ({"MaxPayload": 2048}, "MaxPayload must be from 1 to 1024 MB."),
        # Found by an attack: these were 500s (OverflowError) or Python's own words.
        ({"MaxTimeout": float("inf")}, "MaxTimeout must be a whole number, not inf."),
        ({"MaxCpus": float("-inf")}, "MaxCpus must be a number, not -inf."),
        ({"MaxTimeout": float("nan")}, "MaxTimeout must be a whole number, not nan."),
        ({"MaxCpus": 10**400}, "MaxCpus must be from 0.01 to 1024 CPUs."),
        ({"MaxTimeout": 10**5000}, "MaxTimeout must be from 1 to 604800 seconds."),
        (
            {"MaxTimeout": "x" * 5000},
            "MaxTimeout must be a whole number, not '" + "x" * 36 + "....",
        ),
        ({"Timeout": 5}, "Unknown limits: Timeout; known: MaxCpus, MaxEphemeralStorage"),
    ],
)
def test_a_bad_document_says_what_is_wrong(document: object, reason: str) -> None:
    with pytest.raises(ValueError) as failure:
        limits_from_document(document)
    assert str(failure.value).startswith(reason)


@pytest.mark.parametrize("value", ["0.25", "4", " 1.5 "])
def test_lamina_cpus_within_the_ceiling_is_accepted(value: str) -> None:
    limits = FunctionLimits(max_cpus=4)
    assert limits.check_cpus({"LAMINA_CPUS": value}) == float(value)
    assert function_cpus({"LAMINA_CPUS": value}) == float(value)


@pytest.mark.parametrize(
    "value", ["0", "4.5", "-1", "nan", "inf", "many", "", "1e0", "0x1", "١", "１", "\xa01"]
)
def test_lamina_cpus_out_of_range_or_not_a_number_is_refused(value: str) -> None:
    assert message(FunctionLimits(max_cpus=4).check_cpus, {"LAMINA_CPUS": value}) == (
        f"LAMINA_CPUS must be a number of CPUs from 0.01 to 4 (this server's maximum), not '{value}'."
    )


def test_without_lamina_cpus_the_share_follows_memory() -> None:
    assert FunctionLimits().check_cpus({"OTHER": "1"}) is None
    assert function_cpus({}) is None
