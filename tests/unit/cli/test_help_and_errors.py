"""The `lamina` command as a user meets it, without a server: help, version, and mistakes answered
in one or two lines with a non-zero exit (never a traceback), and no data directory created by a
command that only reads one."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
from tests.support.cli import run_lamina

from lamina import __version__
from lamina.cli.errors import describe
from lamina.cli.log_printer import _format
from lamina.execution.runtimes.catalog import runtime_sort_key


def assert_short_failure(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    """Non-zero, one or two lines on stderr starting with `lamina:`, no traceback."""
    assert result.returncode != 0, result
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2, result.stderr
    assert lines[0].startswith("lamina: "), result.stderr
    assert "Traceback" not in result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr
    return result.stderr


# help and version -----------------------------------------------------------------------------


def test_h_and_help_print_the_same_help_and_version_prints_the_version() -> None:
    short, long = run_lamina("-h"), run_lamina("--help")
    assert short.returncode == long.returncode == 0
    assert short.stdout == long.stdout and "server" in short.stdout and "--version" in short.stdout
    version = run_lamina("--version")
    assert (version.returncode, version.stdout.strip()) == (0, f"lamina {__version__}")
    assert run_lamina("logs", "-h").returncode == 0


@pytest.mark.parametrize("command", [["env"], ["admin", "create-account"]])
def test_commands_that_do_not_listen_do_not_say_listen(command: list[str]) -> None:
    shown = run_lamina(*command, "-h").stdout
    assert "Address to listen on" not in shown
    assert "Address of the running server" in shown and "Port of the running server" in shown


def test_server_help_describes_every_option() -> None:
    shown = run_lamina("server", "-h").stdout
    assert "Address to listen on" in shown
    account = shown[shown.index("--account-id") : shown.index("--keep-alive ")]
    assert "12 digits" in account


@pytest.mark.parametrize(
    "command",
    [["server"], ["env"], ["logs"], ["tune"], ["cost"], ["cost", "estimate"], ["admin", "create-account"]],
)
def test_help_shows_flags_as_flags_and_defaults_as_written(command: list[str]) -> None:
    shown = run_lamina(*command, "-h")
    assert shown.returncode == 0, shown.stderr
    assert "<bool>" not in shown.stdout
    assert "e-05" not in shown.stdout and "e-0" not in shown.stdout


def test_cost_help_gives_aws_prices_as_aws_writes_them() -> None:
    shown = run_lamina("cost", "-h").stdout
    assert "0.0000166667" in shown and "1.66667e-05" not in shown


# mistakes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", [["env"], ["logs", "some-function"], ["cost"], ["admin", "create-account"]]
)
def test_commands_run_outside_a_data_directory_say_so_and_create_nothing(
    command: list[str], tmp_path: Path
) -> None:
    result = run_lamina(*command, cwd=tmp_path)
    assert_short_failure(result, f"no Lamina data directory at {tmp_path / '.lamina'}", "LAMINA_DATA_DIR")
    assert list(tmp_path.iterdir()) == []


def test_lamina_data_dir_names_the_data_directory(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    result = run_lamina("env", cwd=tmp_path, env={"LAMINA_DATA_DIR": str(elsewhere)})
    assert_short_failure(result, f"no Lamina data directory at {elsewhere}")
    assert not elsewhere.exists()


def test_a_file_as_data_directory_is_one_line(tmp_path: Path) -> None:
    regular = tmp_path / "file"
    regular.write_text("not a folder")
    assert_short_failure(run_lamina("server", "--data-dir", str(regular)), "is a file, not a folder")
    assert_short_failure(
        run_lamina("server", "--data-dir", str(regular / "below")), "is a file, not a folder"
    )


def test_a_data_directory_that_cannot_be_created_is_one_line() -> None:
    assert_short_failure(
        run_lamina("server", "--data-dir", "/sys/lamina-data"), "cannot create the data directory"
    )


def test_usage_errors_are_two_lines() -> None:
    result = run_lamina("server", "--no-such-option")
    assert result.returncode == 2
    assert_short_failure(result, "--no-such-option", "lamina server -h")
    assert_short_failure(run_lamina("logs"), "Missing argument")


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (["--pids-budget", "99999999999999999999"], "--pids-budget must be at most the host's pid_max"),
        (["--sandbox-uids", "4294967295-4294967295"], "go past 4294967294"),
        (["--runtime", "java21=/usr/bin/java"], "only pythonX.Y and nodejsNN.x runtimes take an interpreter"),
        (["--runtime", "nodejs22.x"], "expected NAME=INTERPRETER"),
        (["--runtime-fallback", "closest"], "--runtime-fallback must be none or nearest"),
    ],
)
def test_server_options_out_of_range_are_refused_before_anything_starts(
    option: list[str], expected: str, tmp_path: Path
) -> None:
    result = run_lamina("server", "--data-dir", str(tmp_path / "data"), *option, cwd=tmp_path)
    assert result.returncode == 2
    assert_short_failure(result, expected)
    assert not (tmp_path / "data").exists()


def test_tune_with_a_missing_event_file_is_one_failure(tmp_path: Path) -> None:
    result = run_lamina("tune", "fn", "--event", str(tmp_path / "missing.json"))
    assert_short_failure(result, "cannot read the event file", "missing.json")


def test_tune_against_a_server_that_is_down_says_so(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens once the probe closes
    event = tmp_path / "event.json"
    event.write_text("{}")
    result = run_lamina(
        "tune",
        "fn",
        "--event",
        str(event),
        "--endpoint-url",
        f"http://127.0.0.1:{port}",
        env={
            "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
            "AWS_SECRET_ACCESS_KEY": "secret",
            "AWS_DEFAULT_REGION": "us-east-1",
        },
    )
    assert_short_failure(result, f"no server answers at http://127.0.0.1:{port}", "lamina server")


# formatting -----------------------------------------------------------------------------------


def test_runtimes_sort_by_version_not_as_strings() -> None:
    names = ["python3.10", "provided.al2023", "python3.8", "python3.12", "provided.al2", "python3.9"]
    assert sorted(names, key=runtime_sort_key) == [
        "provided.al2",
        "provided.al2023",
        "python3.8",
        "python3.9",
        "python3.10",
        "python3.12",
    ]


def test_multi_line_records_print_their_lines_as_line_breaks() -> None:
    record = '[ERROR] ValueError: bad\rTraceback (most recent call last):\r  File "app.py"\r\n'
    printed = _format(0, record)
    assert "\r" not in printed
    assert printed.splitlines() == [
        "1970-01-01T00:00:00.000Z [ERROR] ValueError: bad",
        "Traceback (most recent call last):",
        '  File "app.py"',
    ]


def test_aws_errors_are_described_by_their_code_and_message() -> None:
    import boto3
    from botocore.exceptions import ClientError, EndpointConnectionError

    client = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")
    modelled = client.exceptions.ResourceNotFoundException(
        {"Error": {"Code": "ResourceNotFoundException", "Message": "Function not found: fn"}}, "GetFunction"
    )
    assert describe(modelled) == ("ResourceNotFoundException: Function not found: fn", None)
    plain = ClientError({"Error": {"Code": "Throttling", "Message": "slow down"}}, "Invoke")
    assert describe(plain) == ("Throttling: slow down", None)
    message, hint = describe(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"))
    assert message == "no server answers at http://127.0.0.1:1" and hint and "lamina server" in hint
    assert describe(RuntimeError("boom"))[0] == "unexpected error: RuntimeError: boom"


def test_values_botocore_refuses_are_a_mistake_to_fix_not_an_unexpected_error() -> None:
    """`lamina tune NAME --memory 12`: botocore refuses MemorySize 12 before sending anything."""
    import boto3
    from botocore.exceptions import ParamValidationError

    client = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")
    with pytest.raises(ParamValidationError) as refused:
        client.update_function_configuration(FunctionName="f", MemorySize=12)
    message, hint = describe(refused.value)
    assert "MemorySize" in message and "unexpected" not in message
    assert "\n" not in message and hint == "check the values given on the command line"


def test_control_characters_from_a_function_are_shown_not_sent_to_the_terminal() -> None:
    """A function's output could set the reader's terminal title, move the cursor or erase what
    came before: lamina logs shows such bytes as escapes; tabs and line breaks stay."""
    shown = _format(0, "a\x1b]0;title\x07b\x08c\x00d\te\r\nf\x9b[2J")
    assert shown.endswith("a\\x1b]0;title\\x07b\\x08c\\x00d\te\nf\\x9b[2J")
    assert not any(ord(character) < 0x20 and character not in "\t\n" for character in shown)


@pytest.mark.parametrize("option", [["--port", "99999"], ["--port", "0"], ["--keep-alive", "-5"]])
def test_out_of_range_numbers_are_refused_before_anything_starts(tmp_path: Path, option: list[str]) -> None:
    result = run_lamina("server", "--data-dir", str(tmp_path / "data"), *option)
    assert result.returncode == 2 and option[0] in assert_short_failure(result)
    assert not (tmp_path / "data").exists()


def test_java_interfaces_that_cannot_be_written_is_one_failure(tmp_path: Path) -> None:
    result = run_lamina("java-interfaces", "-o", str(tmp_path / "missing" / "core.jar"))
    assert_short_failure(result, "missing")
