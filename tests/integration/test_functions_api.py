"""Function management through boto3 against a real server: shapes, errors, validation."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import urllib.request
import uuid
import zipfile
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.conftest import ROLE
from tests.support.lambda_calls import wait_active, wait_updated
from tests.support.packaging import make_zip
from tests.support.server import RunningServer

HELLO = {"app.py": "def handler(event, context):\n    return {'hello': event.get('name', 'world')}\n"}
LAST_MODIFIED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")


def _create(client: Any, name: str, zip_bytes: bytes | None = None, **options: Any) -> dict[str, Any]:
    """CreateFunction's answer, returned once the function is Active."""
    created: dict[str, Any] = client.create_function(
        FunctionName=name,
        Runtime=options.pop("Runtime", "python3.11"),
        Role=ROLE,
        Handler=options.pop("Handler", "app.handler"),
        Code={"ZipFile": zip_bytes or make_zip(HELLO)},
        **options,
    )
    wait_active(client, name)
    return created


def _name() -> str:
    return f"api-{uuid.uuid4().hex[:10]}"


def test_create_function_returns_aws_configuration_shape(lambda_client: Any) -> None:
    name = _name()
    package = make_zip(HELLO)
    config = _create(
        lambda_client, name, package, Description="first", Environment={"Variables": {"ALPHA": "1"}}
    )
    try:
        assert config["FunctionName"] == name
        assert config["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
        assert config["CodeSha256"] == base64.b64encode(hashlib.sha256(package).digest()).decode()
        assert config["CodeSize"] == len(package)
        assert config["Version"] == "$LATEST"
        assert config["MemorySize"] == 128 and config["Timeout"] == 3
        # AWS's answer to CreateFunction: Pending, with no LastUpdateStatus yet; Active once unpacked.
        assert (config["State"], config["StateReasonCode"]) == ("Pending", "Creating")
        assert "LastUpdateStatus" not in config
        active = lambda_client.get_function(FunctionName=name)["Configuration"]
        assert (active["State"], active["LastUpdateStatus"]) == ("Active", "Successful")
        assert config["PackageType"] == "Zip" and config["Architectures"] == ["x86_64"]
        assert config["EphemeralStorage"] == {"Size": 512}
        assert config["LoggingConfig"]["LogGroup"] == f"/aws/lambda/{name}"
        assert config["Environment"] == {"Variables": {"ALPHA": "1"}}
        assert LAST_MODIFIED.match(config["LastModified"])
        assert re.fullmatch(r"[0-9a-f-]{36}", config["RevisionId"])
        lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
        fetched = lambda_client.get_function(FunctionName=name)
        # Becoming Active is a new revision, as on AWS.
        assert fetched["Configuration"]["RevisionId"] != config["RevisionId"]
        assert fetched["Code"]["RepositoryType"] == "S3"
        with urllib.request.urlopen(fetched["Code"]["Location"], timeout=10) as response:
            assert response.read() == package
        assert (
            lambda_client.get_function_configuration(FunctionName=name)["CodeSha256"] == config["CodeSha256"]
        )
    finally:
        lambda_client.delete_function(FunctionName=name)


def test_code_location_rejects_tampered_signature(lambda_client: Any) -> None:
    name = _name()
    _create(lambda_client, name)
    try:
        location = lambda_client.get_function(FunctionName=name)["Code"]["Location"]
        tampered = location[:-4] + ("0000" if not location.endswith("0000") else "1111")
        with pytest.raises(urllib.error.HTTPError) as failure:
            urllib.request.urlopen(tampered, timeout=10)
        failure.value.close()
        assert failure.value.code == 403
    finally:
        lambda_client.delete_function(FunctionName=name)


def test_function_name_forms_are_accepted(lambda_client: Any) -> None:
    name = _name()
    _create(lambda_client, name)
    try:
        for reference in (
            name,
            f"000000000000:function:{name}",
            f"arn:aws:lambda:us-east-1:000000000000:function:{name}",
            f"arn:aws:lambda:us-east-1:000000000000:function:{name}:$LATEST",
        ):
            assert lambda_client.get_function_configuration(FunctionName=reference)["FunctionName"] == name
    finally:
        lambda_client.delete_function(FunctionName=name)


def test_duplicate_create_conflicts(lambda_client: Any) -> None:
    name = _name()
    _create(lambda_client, name)
    try:
        with pytest.raises(lambda_client.exceptions.ResourceConflictException) as failure:
            _create(lambda_client, name)
        assert failure.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
        assert name in failure.value.response["Error"]["Message"]
    finally:
        lambda_client.delete_function(FunctionName=name)


def test_missing_function_is_resource_not_found(lambda_client: Any) -> None:
    for call in (
        lambda_client.get_function,
        lambda_client.get_function_configuration,
        lambda_client.delete_function,
    ):
        with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as failure:
            call(FunctionName="does-not-exist")
        assert failure.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        assert "Function not found: arn:aws:lambda:us-east-1:000000000000:function:does-not-exist" in str(
            failure.value
        )
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.invoke(FunctionName="does-not-exist")


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"MemorySize": 20000}, "memorySize"),
        ({"MemorySize": 100}, "memorySize"),
        ({"Timeout": 901}, "timeout"),
        ({"Timeout": 0}, "timeout"),
        # Runtimes: AWS's answers for blocked and unknown names; a valid one this host cannot run
        # is refused with the list this server offers.
        (
            {"Runtime": "python2.7"},
            "The runtime parameter of python2.7 is no longer supported for creating or updating AWS "
            "Lambda functions. We recommend you use the new runtime (python3.12) while creating or "
            "updating functions.",
        ),
        (
            {"Runtime": "ruby3.4"},
            "is not supported by this Lamina server. Available runtimes: ",
        ),
        (
            {"Runtime": "python3.99"},
            "Value python3.99 at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [",
        ),
        ({"Environment": {"Variables": {"BIG": "x" * 5000}}}, "4KB"),
        ({"Environment": {"Variables": {"AWS_REGION": "x"}}}, "reserved"),
        ({"EphemeralStorage": {"Size": 100}}, "ephemeralStorage"),
    ],
)
def test_invalid_configuration_is_rejected_and_nothing_is_created(
    server: RunningServer, lambda_client: Any, options: dict[str, Any], fragment: str
) -> None:
    name = _name()
    unvalidated = server.client("lambda", parameter_validation=False)  # the server must check, not boto3
    with pytest.raises(ClientError) as failure:
        _create(unvalidated, name, **options)
    error = failure.value.response["Error"]
    assert error["Code"] in ("InvalidParameterValueException", "ValidationException")
    assert failure.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert fragment in error["Message"]
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function(FunctionName=name)


def _zip_with_entry(name: str, content: bytes = b"x", *, symlink: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", HELLO["app.py"])
        info = zipfile.ZipInfo(name)
        info.create_system = 3
        info.external_attr = (0o120777 if symlink else 0o100644) << 16
        archive.writestr(info, content)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "package",
    [
        pytest.param(b"this is not a zip file", id="not-a-zip"),
        pytest.param(make_zip(HELLO)[:-30], id="truncated"),
        pytest.param(_zip_with_entry("../escape.py"), id="dotdot"),
        pytest.param(_zip_with_entry("/etc/evil.py"), id="absolute"),
        pytest.param(_zip_with_entry("link", b"/etc/passwd", symlink=True), id="symlink"),
    ],
)
def test_bad_packages_are_rejected(lambda_client: Any, package: bytes) -> None:
    name = _name()
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as failure:
        _create(lambda_client, name, package)
    assert failure.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function(FunctionName=name)


def test_zip_bomb_over_250_mb_unzipped_is_rejected(lambda_client: Any) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("app.py", HELLO["app.py"])
        with archive.open("zeros.bin", "w", force_zip64=True) as sink:
            chunk = b"\0" * (1 << 20)
            for _ in range(251):
                sink.write(chunk)
    name = _name()
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as failure:
        _create(lambda_client, name, buffer.getvalue())
    assert "262144000" in failure.value.response["Error"]["Message"]
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function(FunctionName=name)


def test_update_configuration_and_code(lambda_client: Any) -> None:
    name = _name()
    _create(lambda_client, name)
    created = lambda_client.get_function_configuration(FunctionName=name)  # Active: its own RevisionId
    try:
        updated = lambda_client.update_function_configuration(
            FunctionName=name,
            MemorySize=256,
            Timeout=10,
            Description="changed",
            Environment={"Variables": {"GREETING": "hi"}},
            RevisionId=created["RevisionId"],
        )
        wait_updated(lambda_client, name)
        assert (updated["MemorySize"], updated["Timeout"], updated["Description"]) == (256, 10, "changed")
        assert updated["RevisionId"] != created["RevisionId"]
        lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)
        with pytest.raises(lambda_client.exceptions.PreconditionFailedException):
            lambda_client.update_function_configuration(
                FunctionName=name, Timeout=5, RevisionId=created["RevisionId"]
            )
        new_code = make_zip({"app.py": "def handler(event, context):\n    return 'v2'\n"})
        code_update = lambda_client.update_function_code(FunctionName=name, ZipFile=new_code)
        wait_updated(lambda_client, name)
        assert code_update["CodeSha256"] == base64.b64encode(hashlib.sha256(new_code).digest()).decode()
        assert code_update["MemorySize"] == 256
        assert lambda_client.invoke(FunctionName=name)["Payload"].read() == b'"v2"'
        with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
            lambda_client.update_function_code(FunctionName=name, ZipFile=b"garbage")
        assert (
            lambda_client.get_function(FunctionName=name)["Configuration"]["CodeSha256"]
            == code_update["CodeSha256"]
        )
    finally:
        lambda_client.delete_function(FunctionName=name)


def test_publish_on_create_makes_version_one(lambda_client: Any) -> None:
    name = _name()
    created = _create(lambda_client, name, Publish=True)
    try:
        # As AWS: the answer is the published version's configuration.
        assert (created["Version"], created["FunctionArn"].rsplit(":", 2)[-2:]) == ("1", [name, "1"])
        updated = lambda_client.update_function_code(FunctionName=name, ZipFile=make_zip(HELLO), Publish=True)
        wait_updated(lambda_client, name)
        assert (updated["Version"], updated["FunctionArn"].endswith(f":{name}:2")) == ("2", True)
        version = lambda_client.get_function_configuration(FunctionName=name, Qualifier="1")
        assert version["Version"] == "1"
        assert version["FunctionArn"].endswith(f":{name}:1")
        result = lambda_client.invoke(FunctionName=f"{name}:1", Payload=b'{"name": "v1"}')
        assert result["ExecutedVersion"] == "1"
        assert result["Payload"].read() == b'{"hello": "v1"}'
    finally:
        lambda_client.delete_function(FunctionName=name)


def test_list_functions_pages_with_marker(lambda_client: Any) -> None:
    prefix = f"page-{uuid.uuid4().hex[:6]}"
    names = [f"{prefix}-{index}" for index in range(5)]
    for name in names:
        _create(lambda_client, name)
    try:
        seen: list[str] = []
        marker = None
        pages = 0
        while True:
            kwargs: dict[str, Any] = {"MaxItems": 2}
            if marker:
                kwargs["Marker"] = marker
            page = lambda_client.list_functions(**kwargs)
            pages += 1
            assert len(page["Functions"]) <= 2
            seen.extend(function["FunctionName"] for function in page["Functions"])
            marker = page.get("NextMarker")
            if not marker:
                break
        assert pages >= 3
        assert [name for name in seen if name.startswith(prefix)] == names
        paginated = [
            function["FunctionName"]
            for page in lambda_client.get_paginator("list_functions").paginate(
                PaginationConfig={"PageSize": 3}
            )
            for function in page["Functions"]
        ]
        assert [name for name in paginated if name.startswith(prefix)] == names
    finally:
        for name in names:
            lambda_client.delete_function(FunctionName=name)


def test_account_settings_count_functions(lambda_client: Any) -> None:
    before = lambda_client.get_account_settings()
    assert before["AccountLimit"]["CodeSizeUnzipped"] == 262144000
    assert before["AccountLimit"]["ConcurrentExecutions"] == 1000
    name = _name()
    _create(lambda_client, name)
    try:
        after = lambda_client.get_account_settings()
        assert after["AccountUsage"]["FunctionCount"] == before["AccountUsage"]["FunctionCount"] + 1
        assert after["AccountUsage"]["TotalCodeSize"] > before["AccountUsage"]["TotalCodeSize"]
    finally:
        lambda_client.delete_function(FunctionName=name)


def test_delete_function_removes_it(lambda_client: Any) -> None:
    name = _name()
    _create(lambda_client, name)
    lambda_client.invoke(FunctionName=name)
    # AWS answers 204, though botocore's current Lambda model declares 200 (both are accepted).
    assert lambda_client.delete_function(FunctionName=name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.invoke(FunctionName=name)
    assert name not in [function["FunctionName"] for function in lambda_client.list_functions()["Functions"]]


def test_empty_environment_variables_are_echoed_as_aws_does(lambda_client: Any) -> None:
    declared, plain = _name(), _name()
    try:
        created = _create(lambda_client, declared, Environment={"Variables": {}})
        assert created["Environment"] == {"Variables": {}}
        got = lambda_client.get_function_configuration(FunctionName=declared)
        assert got["Environment"] == {"Variables": {}}
        assert "Environment" not in _create(lambda_client, plain)
    finally:
        for name in (declared, plain):
            lambda_client.delete_function(FunctionName=name)


def test_total_code_size_counts_layers_too(lambda_client: Any) -> None:
    """GetAccountSettings' TotalCodeSize is functions' and layers' packages together, as on AWS."""
    before = lambda_client.get_account_settings()["AccountUsage"]["TotalCodeSize"]
    layer = f"layer-{uuid.uuid4().hex[:8]}"
    published = lambda_client.publish_layer_version(LayerName=layer, Content={"ZipFile": make_zip(HELLO)})
    try:
        after = lambda_client.get_account_settings()["AccountUsage"]["TotalCodeSize"]
        assert after == before + published["Content"]["CodeSize"]
    finally:
        lambda_client.delete_layer_version(LayerName=layer, VersionNumber=published["Version"])


def test_latest_arns_and_list_items_as_aws_reports_them(lambda_client: Any) -> None:
    name = _name()
    _create(lambda_client, name, Publish=True)
    arn = f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    try:
        # Asked for as $LATEST by name, the ARN says so; asked for plainly, it does not.
        by_latest = lambda_client.get_function(FunctionName=name, Qualifier="$LATEST")
        assert by_latest["Configuration"]["FunctionArn"] == f"{arn}:$LATEST"
        assert lambda_client.get_function(FunctionName=name)["Configuration"]["FunctionArn"] == arn
        assert lambda_client.get_function_configuration(FunctionName=f"{arn}:$LATEST")["FunctionArn"] == (
            f"{arn}:$LATEST"
        )
        every = lambda_client.list_functions(FunctionVersion="ALL")["Functions"]
        mine = sorted(item["FunctionArn"] for item in every if item["FunctionName"] == name)
        assert mine == [f"{arn}:$LATEST", f"{arn}:1"]
        plain = [item for item in lambda_client.list_functions()["Functions"] if item["FunctionName"] == name]
        assert [item["FunctionArn"] for item in plain] == [arn]
        versions = lambda_client.list_versions_by_function(FunctionName=name)["Versions"]
        # List items are a subset: GetFunction has the state and the runtime version.
        for item in [*every, *plain, *versions]:
            assert not {"State", "LastUpdateStatus", "RuntimeVersionConfig"} & set(item), item
        assert "State" in by_latest["Configuration"]
    finally:
        lambda_client.delete_function(FunctionName=name)
