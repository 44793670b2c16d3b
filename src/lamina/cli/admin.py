"""`lamina admin`: calls to a running server's admin API, signed with the first account's root
credentials (from the data directory, or LAMINA_ROOT_* as the server got them)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from lamina.config import Settings


def create_account(settings: Settings, account_id: str | None) -> dict[str, Any]:
    """POST /_lamina/admin/accounts; the new account's id and root credentials."""
    return _call(settings, "POST", "accounts", {"AccountId": account_id} if account_id else {})


def account_limits(settings: Settings, account_id: str) -> dict[str, Any]:
    """GET /_lamina/admin/accounts/ID/limits: the account's effective limits and its own."""
    return _call(settings, "GET", f"accounts/{account_id}/limits", None)


def set_account_limits(settings: Settings, account_id: str, limits: dict[str, Any]) -> dict[str, Any]:
    """PUT /_lamina/admin/accounts/ID/limits: `limits` replaces the account's own ({}: the server's)."""
    return _call(settings, "PUT", f"accounts/{account_id}/limits", limits)


def _call(settings: Settings, method: str, path: str, document: dict[str, Any] | None) -> dict[str, Any]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from lamina.cli.data_dir import root_credentials

    root = root_credentials(settings)
    body = json.dumps(document).encode() if document is not None else b""
    url = f"{settings.endpoint_url}/_lamina/admin/{path}"
    signed = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(root.access_key_id, root.secret_access_key), "lamina", settings.region).add_auth(
        signed
    )
    request = urllib.request.Request(
        url, data=body or None, headers=dict(signed.headers.items()), method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answered: dict[str, Any] = json.loads(response.read())
            return answered
    except urllib.error.HTTPError as error:
        detail = json.loads(error.read() or b"{}")
        raise SystemExit(f"lamina admin: {detail.get('message', error.reason)}") from None
    except urllib.error.URLError as error:
        raise SystemExit(f"lamina admin: no server at {settings.endpoint_url}: {error.reason}") from None
