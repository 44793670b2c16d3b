"""ARN building and function-name parsing as the Lambda API reference describes them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lamina.errors import invalid_parameter, not_found

# Lambda API reference, FunctionName: a name, a partial ARN (ACCOUNT:function:NAME) or a full ARN,
# each optionally followed by ":QUALIFIER". Lookups accept what AWS's pattern for them accepts (a
# name of up to 170 characters, dots included): a name no function can have is simply not found,
# as on AWS. CreateFunction checks the stricter form of a new name (check_new_function_name).
# Every part before the name is optional, in AWS's own grammar: an ARN cut short after
# "function" names a function called "function".
_FUNCTION_REF = re.compile(
    r"^(?:arn:aws[a-zA-Z-]*:lambda:)?(?:(?P<region>[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d+):)?"
    r"(?:(?P<account>\d{12}):)?(?:function:)?"
    r"(?P<name>[a-zA-Z0-9-_.]{1,170})(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9-_]+))?$"
)
_NEW_NAME = re.compile(r"[a-zA-Z0-9-_]+")
MAX_NAME_LENGTH = 64


@dataclass(frozen=True, slots=True)
class FunctionRef:
    """A parsed FunctionName parameter: the bare name and the qualifier it carried, if any."""

    name: str
    qualifier: str | None


def parse_function_ref(value: str, *, region: str, account_id: str) -> FunctionRef:
    """Accept every form AWS accepts; reject ARNs for another account or region as AWS does (an
    endpoint serves its own region only)."""
    match = _FUNCTION_REF.fullmatch(value)
    if match is None:
        raise invalid_parameter(f"Invalid function name or ARN: {value}")
    account = match.group("account")
    if account is not None and account != account_id:
        raise invalid_parameter(f"The account ID in the function ARN does not match the caller: {value}")
    arn_region = match.group("region")
    if arn_region is not None and arn_region != region:
        raise not_found(f"Functions from '{arn_region}' are not reachable in this region ('{region}')")
    return FunctionRef(match.group("name"), match.group("qualifier"))


def resolve_qualifier(ref: FunctionRef, qualifier: str | None) -> str | None:
    """Merge a qualifier from the name with one from the Qualifier parameter; they must agree."""
    if ref.qualifier is not None and qualifier is not None and ref.qualifier != qualifier:
        raise invalid_parameter(
            "The derived qualifier from the function name does not match the specified qualifier."
        )
    return ref.qualifier if ref.qualifier is not None else qualifier


def function_arn(region: str, account_id: str, name: str, qualifier: str | None = None) -> str:
    base = f"arn:aws:lambda:{region}:{account_id}:function:{name}"
    return f"{base}:{qualifier}" if qualifier else base


def check_new_function_name(name: str, given: str) -> str:
    """CreateFunction's name: AWS's validation message for one no function may have."""
    if len(name) > MAX_NAME_LENGTH:
        raise invalid_parameter(
            f"1 validation error detected: Value '{given}' at 'functionName' failed to satisfy "
            f"constraint: Member must have length less than or equal to {MAX_NAME_LENGTH}"
        )
    if _NEW_NAME.fullmatch(name) is None:
        raise invalid_parameter(f"Invalid function name or ARN: {given}")
    return name
