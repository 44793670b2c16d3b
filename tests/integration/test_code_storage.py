"""Stored code against a real server: a corrupt upload is a 400 that stores nothing, and code that no
function, version or layer uses any more (in any account) is removed from disk.

AWS answers an unreadable package with InvalidParameterValueException "Could not unzip uploaded
file. Please check your file, then try to upload again."
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.cli import new_account
from tests.support.lambda_calls import wait_active, wait_updated
from tests.support.packaging import make_zip
from tests.support.server import (
    EXECUTION_ROLE,
    LAMBDA_TRUST_POLICY,
    RunningServer,
    files_only,
    running_server,
)

pytestmark = files_only

CORRUPT = "Could not unzip uploaded file. Please check your file, then try to upload again."
OTHER_ACCOUNT = "210987654321"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    # The process tier: one test hands its function a file on the host (namespaces would hide it).
    with running_server(
        tmp_path_factory.mktemp("code") / "data", "--keep-alive", "30", "--sandbox", "process"
    ) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Any:
    return server.client("lambda")


def blobs(server: RunningServer) -> set[str]:
    return {path.name for path in (server.data_dir / "blobs").rglob("*.blob")}


def code_folders(server: RunningServer) -> set[str]:
    return {path.name for path in (server.data_dir / "code").iterdir()}


def on_disk(server: RunningServer) -> tuple[set[str], set[str]]:
    return blobs(server), code_folders(server)


def wait_until(check: Callable[[], bool], seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def package(tag: str) -> bytes:
    return make_zip({"app.py": f"def handler(event, context):\n    return {tag!r}\n"})


def create(client: Any, name: str, code: bytes, **options: Any) -> dict[str, Any]:
    created: dict[str, Any] = client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=options.pop("Role", EXECUTION_ROLE),
        Handler="app.handler",
        Code={"ZipFile": code},
        **options,
    )
    wait_active(client, name)
    return created


def test_every_single_byte_corruption_is_a_400_or_a_valid_package_and_stores_nothing(
    server: RunningServer, client: Any
) -> None:
    original = package("intact")
    before = on_disk(server)
    rejected = 0
    for offset in range(len(original)):
        corrupt = bytearray(original)
        corrupt[offset] ^= 0xFF
        name = f"corrupt-{offset}"
        try:
            create(client, name, bytes(corrupt))
        except ClientError as error:
            details = error.response["Error"]
            status = error.response["ResponseMetadata"]["HTTPStatusCode"]
            assert (status, details["Code"]) == (400, "InvalidParameterValueException"), (offset, details)
            # A flipped size field reads as a package too large to unpack: rejected as such.
            assert details["Message"].startswith((CORRUPT, "Unzipped size must be smaller")), offset
            rejected += 1
        else:  # the flip left a readable archive (a timestamp, an attribute): a valid upload
            client.delete_function(FunctionName=name)
    assert rejected > len(original) // 3
    # Nothing of the rejected uploads (nor of the accepted-then-deleted ones) stays on disk.
    assert on_disk(server) == before


def test_a_rejected_update_stores_nothing(server: RunningServer, client: Any) -> None:
    create(client, "update-target", package("first"))
    before = on_disk(server)
    corrupt = bytearray(package("second"))
    corrupt[40] ^= 0xFF  # inside the deflate stream: only unpacking finds it
    with pytest.raises(client.exceptions.InvalidParameterValueException):
        client.update_function_code(FunctionName="update-target", ZipFile=bytes(corrupt))
    assert on_disk(server) == before
    client.delete_function(FunctionName="update-target")


def test_create_and_delete_cycles_leave_code_where_it_started(server: RunningServer, client: Any) -> None:
    before = on_disk(server)
    for cycle in range(4):
        name = f"cycle-{cycle}"
        create(client, name, package(f"v1-{cycle}"), Publish=True)
        client.update_function_code(FunctionName=name, ZipFile=package(f"v2-{cycle}"), Publish=True)
        wait_updated(client, name)
        assert client.invoke(FunctionName=name, Qualifier="1")["Payload"].read() == f'"v1-{cycle}"'.encode()
        assert len(blobs(server) - before[0]) == 2
        client.delete_function(FunctionName=name, Qualifier="1")  # version 1's code goes with it
        assert len(blobs(server) - before[0]) == 1
        client.delete_function(FunctionName=name)
    assert on_disk(server) == before
    # Replaced code that no version keeps goes at once.
    create(client, "replaced", package("old"))
    client.update_function_code(FunctionName="replaced", ZipFile=package("new"))
    wait_updated(client, "replaced")
    assert len(blobs(server) - before[0]) == 1
    assert client.invoke(FunctionName="replaced")["Payload"].read() == b'"new"'
    client.delete_function(FunctionName="replaced")
    assert wait_until(lambda: on_disk(server) == before)


def test_layers_keep_their_content_until_no_layer_version_or_function_uses_it(
    server: RunningServer, client: Any
) -> None:
    before = on_disk(server)
    first = client.publish_layer_version(
        LayerName="shared-lib", Content={"ZipFile": make_zip({"python/one.py": "VALUE = 1\n"})}
    )
    second = client.publish_layer_version(
        LayerName="other-lib", Content={"ZipFile": make_zip({"python/two.py": "VALUE = 2\n"})}
    )
    code = make_zip(
        {"app.py": "import one, two\ndef handler(event, context):\n    return one.VALUE + two.VALUE\n"}
    )
    create(client, "layered", code, Layers=[first["LayerVersionArn"], second["LayerVersionArn"]])
    assert client.invoke(FunctionName="layered")["Payload"].read() == b"3"
    client.delete_layer_version(LayerName="shared-lib", VersionNumber=first["Version"])
    assert len(blobs(server) - before[0]) == 3  # the function still uses the deleted version
    client.update_function_configuration(FunctionName="layered", Layers=[second["LayerVersionArn"]])
    wait_updated(client, "layered")
    assert len(blobs(server) - before[0]) == 2  # nothing uses the first layer any more
    client.delete_layer_version(LayerName="other-lib", VersionNumber=second["Version"])
    assert len(blobs(server) - before[0]) == 2  # the function still uses the second
    client.delete_function(FunctionName="layered")
    assert wait_until(lambda: on_disk(server) == before)


def test_code_shared_by_functions_stays_until_the_last_one_goes(server: RunningServer, client: Any) -> None:
    before = on_disk(server)
    code = package("shared")
    create(client, "sharer-a", code)
    create(client, "sharer-b", code)
    assert len(blobs(server) - before[0]) == 1
    client.delete_function(FunctionName="sharer-a")
    assert len(blobs(server) - before[0]) == 1
    assert client.invoke(FunctionName="sharer-b")["Payload"].read() == b'"shared"'
    client.delete_function(FunctionName="sharer-b")
    assert wait_until(lambda: on_disk(server) == before)


def test_code_another_account_uses_is_kept(server: RunningServer, client: Any) -> None:
    theirs = new_account(server, OTHER_ACCOUNT)
    theirs("iam").create_role(RoleName="their-role", AssumeRolePolicyDocument=LAMBDA_TRUST_POLICY)
    before = on_disk(server)
    code = package("both-accounts")
    create(client, "mine", code)
    create(theirs("lambda"), "theirs", code, Role=f"arn:aws:iam::{OTHER_ACCOUNT}:role/their-role")
    client.delete_function(FunctionName="mine")
    assert len(blobs(server) - before[0]) == 1
    assert theirs("lambda").invoke(FunctionName="theirs")["Payload"].read() == b'"both-accounts"'
    theirs("lambda").delete_function(FunctionName="theirs")
    assert wait_until(lambda: on_disk(server) == before)


def test_an_environment_running_deleted_code_finishes_and_its_code_goes_after(
    server: RunningServer, client: Any, tmp_path: Path
) -> None:
    before = on_disk(server)
    name = f"slow-{uuid.uuid4().hex[:8]}"
    slow = make_zip(
        {
            "app.py": "import time\n"
            "def handler(event, context):\n"
            "    open(event['marker'], 'w').close()\n"
            "    time.sleep(2)\n"
            "    import helper\n"  # read from the code folder after the delete
            "    return helper.VALUE\n",
            "helper.py": "VALUE = 'finished'\n",
        }
    )
    create(client, name, slow, Timeout=60)
    marker = tmp_path / "running"
    result: dict[str, Any] = {}

    def invoke() -> None:
        payload = f'{{"marker": "{marker}"}}'.encode()
        result["payload"] = client.invoke(FunctionName=name, Payload=payload)["Payload"].read()

    caller = threading.Thread(target=invoke)
    caller.start()
    assert wait_until(marker.exists, 60)
    client.delete_function(FunctionName=name)
    assert code_folders(server) != before[1]  # kept for the environment still running it
    caller.join(60)
    assert result["payload"] == b'"finished"'
    assert wait_until(lambda: on_disk(server) == before, 30)


def test_a_restart_removes_code_left_behind(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with running_server(data_dir) as first:
        before = on_disk(first)
    stray = data_dir / "code" / ("ab" * 32)
    stray.mkdir()
    (stray / "left.py").write_text("x = 1\n")
    with running_server(data_dir) as second:
        assert on_disk(second) == before
