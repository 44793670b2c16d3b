"""The SES API's door (receipt rules only): the query protocol from botocore's `ses` model, each
operation authorised as `ses:<Operation>` on the rule set it names."""

from __future__ import annotations

from lamina.api.services.service import ServiceFacade, caller_checks, snake_case
from lamina.api.services.ses.operations import OPERATIONS, SesOperations
from lamina.identity.authorizer import Authorizer
from lamina.protocol.model import create_protocol, load_service_model
from lamina.sources.mail.service import ReceiptRules

__all__ = ["build_ses_facade"]


def build_ses_facade(rules: ReceiptRules, authorizer: Authorizer) -> ServiceFacade:
    operations = SesOperations(rules, caller_checks(authorizer, "AccessDenied"))
    table = {name: getattr(operations, snake_case(name)) for name in OPERATIONS}
    return ServiceFacade(create_protocol(load_service_model("ses")), table)
