"""Building deployment packages in tests."""

from __future__ import annotations

import io
import zipfile


def make_zip(files: dict[str, str | bytes], *, modes: dict[str, int] | None = None) -> bytes:
    """A deployment package from {path: content}; `modes` sets Unix permission bits per path."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = ((modes or {}).get(name, 0o644) | 0o100000) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return buffer.getvalue()


_SHELL_RUNTIME = r"""#!/bin/sh
set -eu
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  HEADERS=$(mktemp)
  curl -sS -D "$HEADERS" -o /dev/null "$API/invocation/next"
  ID=$(grep -i Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
@ANSWER@
  curl -sS -X POST "$API/invocation/$ID/response" -d "$BODY" >/dev/null
done
"""


def shell_runtime(answer: str) -> str:
    """A custom runtime's `bootstrap` in sh, on the HTTP Runtime API: for each event it runs `answer`
    (shell lines that set BODY, the JSON to return) and posts BODY as the response."""
    lines = "\n".join(f"  {line}" for line in answer.strip().splitlines())
    return _SHELL_RUNTIME.replace("@ANSWER@", lines)
