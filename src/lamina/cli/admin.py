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
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from lamina.cli.data_dir import root_credentials

    root = root_credentials(settings)
    body = json.dumps({"AccountId": account_id} if account_id else {}).encode()
    url = f"{settings.endpoint_url}/_lamina/admin/accounts"
    signed = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(root.access_key_id, root.secret_access_key), "lamina", settings.region).add_auth(
        signed
    )
    request = urllib.request.Request(url, data=body, headers=dict(signed.headers.items()), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            created: dict[str, Any] = json.loads(response.read())
            return created
    except urllib.error.HTTPError as error:
        detail = json.loads(error.read() or b"{}")
        raise SystemExit(f"lamina admin: {detail.get('message', error.reason)}") from None
    except urllib.error.URLError as error:
        raise SystemExit(f"lamina admin: no server at {settings.endpoint_url}: {error.reason}") from None
