"""The AWS Lambda API (2015-03-31) facade."""

from lamina.api.services.lambda_.backends import LambdaBackends
from lamina.api.services.lambda_.facade import build_lambda_facade

__all__ = ["LambdaBackends", "build_lambda_facade"]
