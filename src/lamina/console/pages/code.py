"""The Code tab: the package's files, a small text file in an editor, Deploy (UpdateFunctionCode
with the edited package, guarded by the revision the page was drawn from), and the layers."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from lamina.console.inline_errors import FORM
from lamina.console.packages import MAX_EDITABLE_BYTES, files_of, read_text, with_file
from lamina.console.pages.function_page import describe, tab_page
from lamina.console.visit import Visit, redirect
from lamina.errors import AwsError
from lamina.transport.messages import LeanResponse

__all__ = ["deploy", "show"]


async def _package(visit: Visit, described: dict[str, Any]) -> bytes | None:
    """The $LATEST package's bytes, which GetFunction let the visitor see (None for an image)."""
    reader = visit.parts.code_package
    digest = described["Configuration"].get("CodeSha256")
    if reader is None or not digest or described["Configuration"].get("PackageType") == "Image":
        return None
    return await reader(base64.b64decode(digest).hex())


def _default_file(handler: str | None, paths: list[str]) -> str | None:
    """The file the handler names (`lambda_function.lambda_handler` → lambda_function.py)."""
    if handler:
        module = handler.rsplit(".", 1)[0]
        for suffix in (".py", ".mjs", ".js", ".cjs", ".rb", ""):
            if module + suffix in paths:
                return module + suffix
    return paths[0] if paths else None


async def show(visit: Visit, name: str, status: int = 200, **values: Any) -> LeanResponse:
    described = await describe(visit, name)
    package = await _package(visit, described)
    files = await asyncio.to_thread(files_of, package) if package is not None else []
    paths = [item.path for item in files]
    chosen = visit.query.get("file") or values.pop("file", None)
    if chosen not in paths:
        chosen = _default_file(
            described["Configuration"].get("Handler"), [item.path for item in files if item.editable]
        )
    text = values.pop("text", None)
    if text is None and chosen is not None and package is not None:
        text = await asyncio.to_thread(read_text, package, chosen)
    notice = None
    if visit.query.get("created"):
        notice = "The function was created."
    elif visit.query.get("deployed"):
        notice = "The code was deployed."
    return await tab_page(
        visit,
        name,
        "code",
        status,
        described,
        files=files,
        chosen=chosen,
        text=text,
        package_size=len(package) if package is not None else None,
        layers=described["Configuration"].get("Layers") or [],
        max_editable=MAX_EDITABLE_BYTES,
        notice=values.pop("notice", notice),
        errors=values.pop("errors", {}),
        FORM=FORM,
        **values,
    )


async def deploy(visit: Visit, name: str) -> LeanResponse:
    path = visit.form.get("file", "")
    text = visit.form.get("code", "").replace("\r\n", "\n")  # browsers send textareas with CRLF
    if len(text.encode()) > MAX_EDITABLE_BYTES:
        return await show(
            visit,
            name,
            400,
            file=path,
            text=text,
            errors={
                FORM: f"The file is larger than {MAX_EDITABLE_BYTES // 1024} KB: deploy it as a package."
            },
        )
    described = await describe(visit, name)
    package = await _package(visit, described)
    if package is None or await asyncio.to_thread(read_text, package, path) is None:
        return await show(visit, name, 400, errors={FORM: f"{path or 'That file'} cannot be edited here."})
    edited = await asyncio.to_thread(with_file, package, path, text)
    params: dict[str, Any] = {"FunctionName": name, "ZipFile": edited}
    if visit.form.get("revision"):
        params["RevisionId"] = visit.form["revision"]
    try:
        await visit.call("lambda", "UpdateFunctionCode", params)
    except AwsError as refused:
        return await show(
            visit, name, 400, file=path, text=text, errors={FORM: f"{refused.code}: {refused.message}"}
        )
    return redirect(f"/functions/{visit.quoted(name)}/code?file={visit.quoted(path)}&deployed=1")
