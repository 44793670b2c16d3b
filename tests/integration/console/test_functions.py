"""Creating functions in the console (from scratch, from a blueprint), the Code tab (the package's
files, editing a file and Deploy, a large package read-only, layers) and deleting a function,
each checked through boto3 as well as on the page."""

from __future__ import annotations

import io
import json
import os
import sys
import uuid
import zipfile
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.browser import needs_chromium, open_tab, shot, sign_in
from tests.support.lambda_calls import create_function, wait_active
from tests.support.server import ACCESS_KEY, SECRET_KEY, RunningServer

pytestmark = needs_chromium
RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"


def _create(page: Any, server: RunningServer, name: str, blueprint: str | None = None) -> None:
    page.goto(f"{server.endpoint}/_lamina/console/functions")
    page.get_by_role("link", name="Create function").click()
    if blueprint is None:
        page.get_by_label("Author from scratch").check()
        page.get_by_label("Runtime").select_option(RUNTIME)
    else:
        page.get_by_label("Use a blueprint").check()
        page.get_by_label("Blueprint", exact=True).select_option(blueprint)
    page.get_by_label("Function name").fill(name)
    shot(page, "create-function")
    page.get_by_role("button", name="Create function").click()


def _test(page: Any, event: str = "{}") -> str:
    page.get_by_role("navigation", name="Function").get_by_role("link", name="Test", exact=True).click()
    page.get_by_label("Event JSON").fill(event)
    page.get_by_role("button", name="Test", exact=True).click()
    return page.get_by_role("region", name="Execution result").get_by_label("Response").inner_text()


def test_from_scratch_edit_deploy_test_and_delete(
    page: Any, server: RunningServer, lambda_client: Any
) -> None:
    sign_in(page, server, ACCESS_KEY, SECRET_KEY)
    name = f"scratch-{uuid.uuid4().hex[:6]}"
    _create(page, server, name)
    assert page.get_by_role("status").inner_text() == "The function was created."
    configuration = lambda_client.get_function_configuration(FunctionName=name)
    assert configuration["Runtime"] == RUNTIME
    assert configuration["Handler"] == "lambda_function.lambda_handler"
    # The new role: in /service-role/, with AWS's basic execution policy.
    role_name = configuration["Role"].rsplit("/", 1)[1]
    assert configuration["Role"].startswith("arn:aws:iam::000000000000:role/service-role/" + name + "-role-")
    attached = server.client("iam").list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]
    assert [item["PolicyName"] for item in attached] == ["AWSLambdaBasicExecutionRole"]
    wait_active(lambda_client, name)

    # The Code tab: the file list and the handler's file in the editor.
    files = page.get_by_role("navigation", name="Files")
    assert files.get_by_role("link", name="lambda_function.py").is_visible()
    editor = page.get_by_label("lambda_function.py")
    assert "def lambda_handler(event, context):" in editor.input_value()
    assert json.loads(_test(page)) == {"statusCode": 200, "body": '"Hello from Lamina!"'}

    # Edit and Deploy: the next Test runs the new code.
    open_tab(page, server, name, "Code")
    page.get_by_label("lambda_function.py").fill(
        "def lambda_handler(event, context):\n    return {'edited': True, 'event': event}\n"
    )
    page.get_by_role("button", name="Deploy").click()
    assert page.get_by_role("status").inner_text() == "The code was deployed."
    shot(page, "code")
    wait_active(lambda_client, name)
    package = zipfile.ZipFile(io.BytesIO(_download(lambda_client, name)))
    assert (
        package.read("lambda_function.py")
        .decode()
        .startswith("def lambda_handler(event, context):\n    return {'edited'")
    )
    assert json.loads(_test(page, '{"n": 1}')) == {"edited": True, "event": {"n": 1}}

    # Delete: the name must be typed; then the list says so and the API no longer knows it.
    open_tab(page, server, name, "Configuration")
    page.get_by_role("button", name="Delete function").click()
    assert page.get_by_role("alert").inner_text() == "Type the function's name exactly to delete it."
    page.get_by_label("Type the function's name to confirm").fill(name)
    page.get_by_role("button", name="Delete function").click()
    assert page.get_by_role("status").inner_text() == "The function was deleted."
    with pytest.raises(ClientError) as missing:
        lambda_client.get_function(FunctionName=name)
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"


def _download(lambda_client: Any, name: str) -> bytes:
    import urllib.request

    location = lambda_client.get_function(FunctionName=name)["Code"]["Location"]
    with urllib.request.urlopen(location, timeout=30) as response:
        return bytes(response.read())


def test_from_a_blueprint(page: Any, server: RunningServer, lambda_client: Any) -> None:
    sign_in(page, server, ACCESS_KEY, SECRET_KEY)
    name = f"blueprint-{uuid.uuid4().hex[:6]}"
    _create(page, server, name, "sns-message-python")
    assert page.get_by_role("status").inner_text() == "The function was created."
    configuration = lambda_client.get_function_configuration(FunctionName=name)
    assert configuration["Handler"] == "app.lambda_handler" and configuration["Runtime"] == RUNTIME
    assert page.get_by_label("app.py").input_value().startswith('"""')
    wait_active(lambda_client, name)
    event = {
        "Records": [
            {
                "EventSource": "aws:sns",
                "Sns": {
                    "Message": "hello",
                    "Subject": "s",
                    "MessageId": "1",
                    "TopicArn": "arn:aws:sns:us-east-1:000000000000:t",
                    "Timestamp": "2026-12-06T00:00:00.000Z",
                    "MessageAttributes": {},
                },
            }
        ]
    }
    _test(page, json.dumps(event))
    log = page.get_by_role("region", name="Execution result").get_by_label("Log output").inner_text()
    assert "REPORT RequestId:" in log
    shot(page, "create-from-blueprint")


def test_what_the_create_form_refuses_is_said_next_to_the_field(
    page: Any, server: RunningServer, lambda_client: Any
) -> None:
    sign_in(page, server, ACCESS_KEY, SECRET_KEY)
    _create(page, server, "not a name!")
    assert page.get_by_label("Function name").get_attribute("aria-invalid") == "true"
    assert (
        page.get_by_role("alert").inner_text()
        == "A function name is 1 to 64 letters, digits, hyphens or underscores."
    )
    taken = f"taken-{uuid.uuid4().hex[:6]}"
    create_function(lambda_client, taken, {"app.py": "def handler(e, c):\n    return 1\n"})
    _create(page, server, taken)
    alert = page.get_by_role("alert").inner_text()
    assert alert == f"ResourceConflictException: Function already exist: {taken}"
    shot(page, "create-refused")


def test_a_large_package_is_shown_read_only_with_its_layers(
    page: Any, server: RunningServer, lambda_client: Any
) -> None:
    layer = server.client("lambda").publish_layer_version(
        LayerName=f"console-layer-{uuid.uuid4().hex[:6]}",
        Content={"ZipFile": _zip({"python/helper.py": b"X = 1\n"})},
    )
    name = f"large-{uuid.uuid4().hex[:6]}"
    create_function(
        lambda_client,
        name,
        {"app.py": "def handler(e, c):\n    return 1\n", "blob.bin": os.urandom(4 * 1024 * 1024)},
        Layers=[layer["LayerVersionArn"]],
    )
    sign_in(page, server, ACCESS_KEY, SECRET_KEY)
    open_tab(page, server, name, "Code")
    files = page.get_by_role("navigation", name="Files")
    assert "app.py" in files.inner_text() and "blob.bin" in files.inner_text()
    assert files.get_by_role("link").count() == 0  # nothing opens in the editor
    assert page.get_by_role("button", name="Deploy").count() == 0
    layers = page.get_by_role("table", name="Layers").inner_text()
    assert layer["LayerVersionArn"] in layers


def _zip(files: dict[str, bytes]) -> bytes:
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return output.getvalue()
