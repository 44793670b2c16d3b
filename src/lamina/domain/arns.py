"""ARN building and function-name parsing as the Lambda API reference describes them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lamina.errors import invalid_parameter, not_found

# Lambda API reference, FunctionName: a name, a partial ARN (ACCOUNT:function:NAME) or a full ARN,
# each optionally followed by ":QUALIFIER".
_FUNCTION_REF = re.compile(
    r"^(?:arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
    r"|(?P<partial_account>\d{12}):function:)?"
    r"(?P<name>[a-zA-Z0-9-_]{1,64})(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9-_]+))?$"
)


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
    account = match.group("account") or match.group("partial_account")
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
