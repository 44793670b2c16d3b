"""The AWS clients a project command uses: the AWS_* variables where they name an endpoint (as
`eval "$(lamina env)"` sets them), else the running server of a data directory, as its root."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

__all__ = ["Connection"]


@dataclass
class Connection:
    session: Any  # boto3.Session
    endpoint_url: str

    @classmethod
    def from_environment(cls) -> Connection | None:
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        if not endpoint or not os.environ.get("AWS_ACCESS_KEY_ID"):
            return None
        return cls(boto3.session.Session(), endpoint)

    @classmethod
    def with_credentials(
        cls, endpoint_url: str, access_key_id: str, secret_access_key: str, region: str
    ) -> Connection:
        session = boto3.session.Session(
            aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key, region_name=region
        )
        return cls(session, endpoint_url)

    @property
    def region(self) -> str:
        return str(self.session.region_name or "us-east-1")

    def client(self, service: str) -> Any:
        return self.session.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            config=Config(retries={"max_attempts": 2, "mode": "standard"}, read_timeout=900),
        )
