"""Lamina: a self-hosted serverless platform that speaks the AWS Lambda wire protocols."""

__version__ = "0.1.0"
__all__ = ["__version__"]
