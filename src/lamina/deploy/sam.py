"""The `AWS::Serverless-2016-10-31` transform: SAM resources (Function and its Events, Api,
HttpApi, SimpleTable, LayerVersion, Globals, policy templates…) expanded into CloudFormation by
AWS's own translator (aws-sam-translator), as CloudFormation's hosted transform does.

The translator is imported on the first SAM template (it takes a third of a second) and run on
the event loop: it sets process-wide state (the region its ARNs use), so two expansions must not
overlap, and one takes tens of milliseconds."""

from __future__ import annotations

import copy
import logging
from functools import cache
from typing import Any

from lamina.deploy.errors import validation_error
from lamina.domain.iam.managed import AWS_MANAGED_POLICIES

__all__ = ["SAM_TRANSFORM", "expand_sam"]

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"


@cache
def _session(region: str) -> Any:
    import boto3  # the translator reads the region and partition from a session

    return boto3.session.Session(region_name=region)


def _managed_policies() -> dict[str, str]:
    """AWS managed policy names, as SAM's `Policies` give them, to the ARNs Lamina provides."""
    return {
        policy.name: f"arn:aws:iam::aws:policy{policy.path}{policy.name}" for policy in AWS_MANAGED_POLICIES
    }


def _failure(problem: str) -> Exception:
    return validation_error(f"Transform {SAM_TRANSFORM} failed with: {problem}")


def expand_sam(document: dict[str, Any], parameter_values: dict[str, Any], region: str) -> dict[str, Any]:
    """The template with its SAM resources replaced by CloudFormation resources; ValidationError
    "Transform AWS::Serverless-2016-10-31 failed with: …" (the translator's own words) when the
    SAM resources are invalid."""
    from samtranslator.metrics.metrics import DummyMetricsPublisher, Metrics
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    logging.getLogger("samtranslator").setLevel(logging.ERROR)  # its per-resource INFO lines
    metrics = Metrics("ServerlessTransform", DummyMetricsPublisher())
    translator = Translator(_managed_policies(), Parser(), boto_session=_session(region), metrics=metrics)
    try:
        expanded: dict[str, Any] = translator.translate(copy.deepcopy(document), dict(parameter_values))
    except InvalidDocumentException as error:
        causes = " ".join(str(cause.message) for cause in error.causes)
        raise _failure(f"{error.message} {causes}".strip()) from None
    except Exception as error:  # the translator's own faults on inputs it did not expect
        raise _failure(f"Internal transform failure: {type(error).__name__}: {str(error)[:300]}") from None
    finally:
        metrics.publish()
    return expanded
