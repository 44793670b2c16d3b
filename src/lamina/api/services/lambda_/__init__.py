"""The AWS Lambda API (2015-03-31) facade."""

from lamina.api.services.lambda_.operations import build_lambda_facade

__all__ = ["build_lambda_facade"]
