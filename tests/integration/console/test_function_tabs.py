"""A function's Configuration tab (each section saved and read back through boto3, refusals shown
next to their field), Versions and aliases (publish, a weighted alias), and saved test events
(private to who saved them, shareable with everyone who sees the function)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.browser import needs_chromium, open_tab, shot, sign_in
from tests.support.lambda_calls import create_function, wait_active
from tests.support.server import ACCESS_KEY, SECRET_KEY, RunningServer

pytestmark = needs_chromium
ECHO = {
    "app.py": "import os\n\ndef handler(event, context):\n    return {'event': event, 'colour': os.environ.get('COLOUR')}\n"
}


@pytest.fixture
def function(lambda_client: Any) -> Iterator[str]:
    """A function of the session's server, deleted afterwards: its reserved concurrency would
    hold part of the account's from the tests that need all of it."""
    name = f"tabs-{uuid.uuid4().hex[:8]}"
    create_function(lambda_client, name, ECHO)
    yield name
    lambda_client.delete_function(FunctionName=name)


def _section(page: Any, heading: str) -> Any:
    return page.get_by_role("region", name=heading)


def test_configuration_sections_save_and_refusals_show_next_to_the_field(
    page: Any, server: RunningServer, lambda_client: Any, function: str
) -> None:
    sign_in(page, server, ACCESS_KEY, SECRET_KEY)
    open_tab(page, server, function, "Configuration")
    general = _section(page, "General configuration")
    # The hints name the ceilings that apply to this account (AWS's here; `--max-*` raises them).
    assert general.locator(".hint").all_inner_texts() == [
        "128 to 10,240 MB",
        "1 to 900 seconds",
        "512 to 10,240 MB",
    ]
    general.get_by_label("Memory (MB)").fill("256")
    general.get_by_label("Timeout (seconds)").fill("30")
    general.get_by_label("Description").fill("made in the console")
    general.get_by_role("button", name="Save general configuration").click()
    assert page.get_by_role("status").inner_text() == "The configuration was saved."
    wait_active(lambda_client, function)
    configuration = lambda_client.get_function_configuration(FunctionName=function)
    assert (configuration["MemorySize"], configuration["Timeout"], configuration["Description"]) == (
        256,
        30,
        "made in the console",
    )

    # Out of range: the API's own message, next to the Memory field.
    general = _section(page, "General configuration")
    general.get_by_label("Memory (MB)").fill("100")
    general.get_by_role("button", name="Save general configuration").click()
    memory = _section(page, "General configuration").get_by_label("Memory (MB)")
    assert memory.get_attribute("aria-invalid") == "true" and memory.input_value() == "100"
    message = page.locator("#general-memory-error").inner_text()
    assert message.startswith("ValidationException: 1 validation error detected: Value '100' at 'memorySize'")
    shot(page, "configuration-refused")
    # Not a number: said before any API call.
    _section(page, "General configuration").get_by_label("Timeout (seconds)").fill("soon")
    _section(page, "General configuration").get_by_label("Memory (MB)").fill("256")
    _section(page, "General configuration").get_by_role("button", name="Save general configuration").click()
    assert page.locator("#general-timeout-error").inner_text() == "Timeout must be a whole number."

    open_tab(page, server, function, "Configuration")
    environment = _section(page, "Environment variables")
    environment.get_by_label("Environment variables").fill("COLOUR=green\nSIZE=2")
    environment.get_by_role("button", name="Save environment variables").click()
    wait_active(lambda_client, function)
    assert lambda_client.get_function_configuration(FunctionName=function)["Environment"]["Variables"] == {
        "COLOUR": "green",
        "SIZE": "2",
    }
    _section(page, "Environment variables").get_by_label("Environment variables").fill("no equals sign")
    _section(page, "Environment variables").get_by_role("button", name="Save environment variables").click()
    assert page.locator("#environment-environment-error").inner_text() == "Line 1 is not KEY=VALUE."

    open_tab(page, server, function, "Configuration")
    _section(page, "Concurrency").get_by_label("Reserved concurrency").fill("5")
    _section(page, "Concurrency").get_by_role("button", name="Save concurrency").click()
    assert lambda_client.get_function_concurrency(FunctionName=function)["ReservedConcurrentExecutions"] == 5

    queue_arn = _queue_arn(server)
    asynchronous = _section(page, "Asynchronous invocation")
    asynchronous.get_by_label("Retry attempts").fill("1")
    asynchronous.get_by_label("On-failure destination ARN").fill(queue_arn)
    asynchronous.get_by_role("button", name="Save asynchronous invocation").click()
    config = lambda_client.get_function_event_invoke_config(FunctionName=function)
    assert config["MaximumRetryAttempts"] == 1
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == queue_arn
    _section(page, "Asynchronous invocation").get_by_label("Retry attempts").fill("7")
    _section(page, "Asynchronous invocation").get_by_role(
        "button", name="Save asynchronous invocation"
    ).click()
    assert "maximumRetryAttempts" in page.locator("#asynchronous-retries-error").inner_text()

    open_tab(page, server, function, "Configuration")
    _section(page, "Function URL").get_by_label("Auth type").select_option("NONE")
    _section(page, "Function URL").get_by_role("button", name="Create function URL").click()
    url = lambda_client.get_function_url_config(FunctionName=function)
    assert url["AuthType"] == "NONE"
    assert _section(page, "Function URL").get_by_role("link", name=url["FunctionUrl"]).is_visible()

    _section(page, "Tags").get_by_label("Tags").fill("team=blue\nstage=dev")
    _section(page, "Tags").get_by_role("button", name="Save tags").click()
    arn = lambda_client.get_function_configuration(FunctionName=function)["FunctionArn"]
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"team": "blue", "stage": "dev"}
    _section(page, "Tags").get_by_label("Tags").fill("team=red")
    _section(page, "Tags").get_by_role("button", name="Save tags").click()
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"team": "red"}
    shot(page, "configuration")


def _queue_arn(server: RunningServer) -> str:
    sqs = server.client("sqs")
    url = sqs.create_queue(QueueName=f"console-dlq-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def test_publish_versions_and_a_weighted_alias(
    page: Any, server: RunningServer, lambda_client: Any, function: str
) -> None:
    sign_in(page, server, ACCESS_KEY, SECRET_KEY)
    open_tab(page, server, function, "Versions and aliases")
    page.get_by_label("Version description").fill("first")
    page.get_by_role("button", name="Publish new version").click()
    assert page.get_by_role("status").inner_text() == "Published version 1."
    assert "first" in page.get_by_role("table", name="Versions").inner_text()
    page.get_by_label("Alias name").fill("live")
    page.get_by_label("Version", exact=True).fill("1")
    page.get_by_role("button", name="Create alias").click()
    assert page.get_by_role("status").inner_text() == "Created the alias live."

    lambda_client.update_function_configuration(FunctionName=function, Description="second")
    wait_active(lambda_client, function)
    page.get_by_role("button", name="Publish new version").click()
    assert page.get_by_role("status").inner_text() == "Published version 2."
    page.get_by_label("Alias name").fill("live")
    page.get_by_label("Version", exact=True).fill("1")
    page.get_by_label("Weighted alias: additional version").fill("2")
    page.get_by_label("Weight of the additional version (%)").fill("10")
    page.get_by_role("button", name="Update alias").click()
    assert page.get_by_role("status").inner_text() == "Updated the alias live."
    row = page.get_by_role("table", name="Aliases").get_by_role("row", name="live")
    assert "1: 90.0%, 2: 10.0%" in row.inner_text()
    alias = lambda_client.get_alias(FunctionName=function, Name="live")
    assert alias["FunctionVersion"] == "1" and alias["RoutingConfig"]["AdditionalVersionWeights"] == {
        "2": 0.1
    }
    shot(page, "versions")

    # A version that does not exist: the API's refusal, next to the Version field.
    page.get_by_label("Alias name").fill("broken")
    page.get_by_label("Version", exact=True).fill("9")
    page.get_by_role("button", name="Create alias").click()
    assert page.get_by_label("Version", exact=True).get_attribute("aria-invalid") == "true"
    assert page.locator("#alias-version-error").inner_text().startswith("ResourceNotFoundException")


def test_saved_events_are_private_or_shared(
    page: Any, browser: Any, server: RunningServer, function: str
) -> None:
    sign_in(page, server, ACCESS_KEY, SECRET_KEY)
    open_tab(page, server, function, "Test")
    for name, scope, event in (("mine", "Private", {"who": "me"}), ("team", "Shareable", {"who": "all"})):
        page.get_by_label("Event JSON").fill(json.dumps(event))
        page.get_by_label("Event name").fill(name)
        page.get_by_label(scope, exact=True).check()
        page.get_by_role("button", name="Save", exact=True).click()
        assert page.get_by_role("status").inner_text() == f"Saved the {scope.lower()} event {name}."
    options = page.get_by_label("Saved event").inner_text()
    assert "mine (private)" in options and "team (shareable)" in options
    page.get_by_label("Saved event").select_option(label="mine (private)")
    page.get_by_role("button", name="Open saved event").click()
    assert json.loads(page.get_by_label("Event JSON").input_value()) == {"who": "me"}
    page.get_by_role("button", name="Test", exact=True).click()
    response = page.get_by_role("region", name="Execution result").get_by_label("Response").inner_text()
    assert json.loads(response)["event"] == {"who": "me"}
    # A bad name is refused, and nothing is saved.
    page.get_by_label("Event name").fill("no spaces please")
    page.get_by_role("button", name="Save", exact=True).click()
    assert (
        page.get_by_role("alert").inner_text()
        == "An event name is 1 to 25 letters, digits, hyphens or underscores."
    )
    shot(page, "saved-events")

    # Another user who may use the function sees the shareable event only.
    iam = server.client("iam")
    user = f"teammate-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    iam.attach_user_policy(UserName=user, PolicyArn="arn:aws:iam::aws:policy/AWSLambda_FullAccess")
    key = iam.create_access_key(UserName=user)["AccessKey"]
    other = browser.new_context().new_page()
    try:
        sign_in(other, server, key["AccessKeyId"], key["SecretAccessKey"])
        open_tab(other, server, function, "Test")
        options = other.get_by_label("Saved event").inner_text()
        assert "team (shareable)" in options and "mine" not in options
    finally:
        other.context.close()

    # Deleting a saved event.
    page.get_by_label("Saved event").select_option(label="team (shareable)")
    page.get_by_role("button", name="Delete saved event").click()
    assert page.get_by_role("status").inner_text() == "The saved event was deleted."
    assert "team" not in page.get_by_label("Saved event").inner_text()
