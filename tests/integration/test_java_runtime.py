"""Java functions as a user builds and deploys them: compiled with javac against Lamina's copy of
aws-lambda-java-core's interfaces, packaged as a ZIP (classes plus lib/*.jar) or as a JAR, created
with a javaNN runtime through boto3 and invoked; POJO events, stream handlers, the context, the
logger, errors and init errors."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.lambda_calls import log_lines, wait_active
from tests.support.server import EXECUTION_ROLE, RunningServer

HELLO = """
package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import java.util.Map;

public class Hello implements RequestHandler<Map<String, Object>, String> {
    @Override
    public String handleRequest(Map<String, Object> event, Context context) {
        context.getLogger().log("name is " + event.get("name"));
        return "Hello, " + event.get("name");
    }
}
"""

POJO = """
package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;

public class Orders implements RequestHandler<Orders.Order, Orders.Receipt> {
    private static int calls = 0;

    public static class Order {
        public String item;
        public int quantity;
        public double price;
    }

    public static class Receipt {
        public String item;
        public double total;
        public int calls;
        public String requestId;
        public String function;
        public int memory;
        public boolean timeLeft;
        public String arn;
        public String group;
        public String stream;
    }

    @Override
    public Receipt handleRequest(Order order, Context context) {
        calls += 1;
        if (order.quantity < 0) {
            throw new IllegalArgumentException("quantity must not be negative", new RuntimeException("root cause"));
        }
        Receipt receipt = new Receipt();
        receipt.item = order.item;
        receipt.total = order.quantity * order.price;
        receipt.calls = calls;
        receipt.requestId = context.getAwsRequestId();
        receipt.function = context.getFunctionName();
        receipt.memory = context.getMemoryLimitInMB();
        receipt.timeLeft = context.getRemainingTimeInMillis() > 0;
        receipt.arn = context.getInvokedFunctionArn();
        receipt.group = context.getLogGroupName();
        receipt.stream = context.getLogStreamName();
        System.out.println("order for " + order.item);
        return receipt;
    }
}
"""

STREAM = """
package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestStreamHandler;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

public class Upper implements RequestStreamHandler {
    @Override
    public void handleRequest(InputStream input, OutputStream output, Context context) throws IOException {
        String text = new String(input.readAllBytes(), StandardCharsets.UTF_8);
        output.write(text.toUpperCase().getBytes(StandardCharsets.UTF_8));
    }

    public static String plain(String name) {
        return "plain " + name;
    }
}
"""

GENERIC_BASE = """
package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;

public abstract class Base<I, O> implements RequestHandler<I, O> {
    @Override
    public O handleRequest(I event, Context context) {
        return go(event);
    }

    abstract O go(I event);
}
"""

GENERIC = """
package example;

public class Generic extends Base<Generic.In, String> {
    public static class In {
        public String word;
    }

    @Override
    String go(In event) {
        return event.word.toUpperCase();
    }
}
"""

LIBRARY = """
package greetings;

public class Greeter {
    public static String greet(String name) {
        return "Greetings, " + name;
    }
}
"""

USES_LIBRARY = """
package example;

import greetings.Greeter;

public class Library {
    public String handleRequest(String name) {
        return Greeter.greet(name);
    }
}
"""


def _java_runtime(server: RunningServer) -> str:
    runtimes = [name for name in server.health()["runtimes"] if re.fullmatch(r"java\d+", name)]
    if not runtimes or shutil.which("javac") is None:
        pytest.skip("no Java runtime on this host (a JDK and Debian's libjackson2-databind-java)")
    return "java17" if "java17" in runtimes else runtimes[0]


def _compile(
    server: RunningServer, work: Path, sources: dict[str, str], extra_classpath: tuple[Path, ...] = ()
) -> Path:
    """javac against the interfaces jar `lamina java-interfaces` writes, as a user compiles; the
    classes folder."""
    work.mkdir(parents=True, exist_ok=True)
    core = work / "aws-lambda-java-core.jar"
    subprocess.run(
        [sys.executable, "-m", "lamina", "java-interfaces", "-o", str(core)], check=True, capture_output=True
    )
    assert (
        core.read_bytes() == (server.data_dir / "runtime" / "java" / "aws-lambda-java-core.jar").read_bytes()
    )
    source_root, classes = work / "src", work / "classes"
    paths = []
    for name, text in sources.items():
        path = source_root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        paths.append(str(path))
    classpath = ":".join(str(entry) for entry in [core, *extra_classpath])
    subprocess.run(
        ["javac", "--release", "11", "-nowarn", "-d", str(classes), "-cp", classpath, *paths],
        check=True,
        capture_output=True,
    )
    return classes


def _zip(folder: Path, prefix: str = "", extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.rglob("*.class")):
            archive.write(path, prefix + path.relative_to(folder).as_posix())
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def java_function(lambda_client: Any, server: RunningServer) -> Iterator[Callable[..., str]]:
    runtime = _java_runtime(server)
    created: list[str] = []

    def deploy(name: str, handler: str, package: bytes, **options: Any) -> str:
        lambda_client.create_function(
            FunctionName=name,
            Runtime=runtime,
            Role=EXECUTION_ROLE,
            Handler=handler,
            Code={"ZipFile": package},
            Timeout=30,
            MemorySize=256,
            **options,
        )
        created.append(name)
        wait_active(lambda_client, name)
        return name

    yield deploy
    for name in created:
        lambda_client.delete_function(FunctionName=name)


def _invoke(client: Any, name: str, payload: bytes) -> tuple[Any, dict[str, Any]]:
    response = client.invoke(FunctionName=name, Payload=payload, LogType="Tail")
    return json.loads(response["Payload"].read()), response


def test_a_request_handler_answers_and_logs(
    java_function: Callable[..., str], lambda_client: Any, server: RunningServer, tmp_path: Path
) -> None:
    classes = _compile(server, tmp_path, {"example/Hello.java": HELLO})
    name = java_function("java-hello", "example.Hello::handleRequest", _zip(classes))
    result, response = _invoke(lambda_client, name, b'{"name": "Duke"}')
    assert result == "Hello, Duke"
    assert "name is Duke" in log_lines(response)
    # The class alone names its handleRequest, as on AWS.
    lambda_client.update_function_configuration(FunctionName=name, Handler="example.Hello")
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.05})
    assert _invoke(lambda_client, name, b'{"name": "Ada"}')[0] == "Hello, Ada"


def test_pojo_events_and_results_map_to_json_and_the_context_is_awss(
    java_function: Callable[..., str], lambda_client: Any, server: RunningServer, tmp_path: Path
) -> None:
    classes = _compile(server, tmp_path, {"example/Orders.java": POJO})
    name = java_function("java-orders", "example.Orders", _zip(classes))
    receipt, response = _invoke(
        lambda_client, name, b'{"item": "tea", "quantity": 3, "price": 1.5, "extra": true}'
    )
    request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert receipt["item"] == "tea" and receipt["total"] == 4.5 and receipt["calls"] == 1
    assert (receipt["requestId"], receipt["function"], receipt["memory"]) == (request_id, name, 256)
    assert receipt["timeLeft"] and receipt["arn"].endswith(f":function:{name}")
    assert receipt["group"] == f"/aws/lambda/{name}" and "[$LATEST]" in receipt["stream"]
    assert "order for tea" in log_lines(response)
    again, _ = _invoke(lambda_client, name, b'{"item": "tea", "quantity": 1, "price": 1}')
    assert again["calls"] == 2  # the same warm JVM

    error, response = _invoke(lambda_client, name, b'{"item": "tea", "quantity": -1, "price": 1}')
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "java.lang.IllegalArgumentException"
    assert error["errorMessage"] == "quantity must not be negative"
    assert error["stackTrace"][0].startswith("example.Orders.handleRequest(Orders.java:")
    assert (
        error["cause"]["errorType"] == "java.lang.RuntimeException"
        and error["cause"]["errorMessage"] == "root cause"
    )


def test_stream_handlers_static_methods_and_a_jar_with_its_libraries(
    java_function: Callable[..., str], lambda_client: Any, server: RunningServer, tmp_path: Path
) -> None:
    classes = _compile(server, tmp_path / "stream", {"example/Upper.java": STREAM})
    upper = java_function("java-upper", "example.Upper", _zip(classes))
    response = lambda_client.invoke(FunctionName=upper, Payload=b'{"a": "b"}')
    assert response["Payload"].read() == b'{"A": "B"}'
    # A JAR uploaded as it is (a ZIP with a manifest), naming a static method.
    jar = _zip(classes, extra={"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\r\n\r\n"})
    plain = java_function("java-plain", "example.Upper::plain", jar)
    assert _invoke(lambda_client, plain, b'"x"')[0] == "plain x"

    library_classes = _compile(server, tmp_path / "library", {"greetings/Greeter.java": LIBRARY})
    library_jar = _zip(library_classes)
    (tmp_path / "greetings.jar").write_bytes(library_jar)
    user_classes = _compile(
        server, tmp_path / "user", {"example/Library.java": USES_LIBRARY}, (tmp_path / "greetings.jar",)
    )
    # A ZIP with classes at the root and dependencies in lib/, as Gradle's buildZip makes it.
    zipped = java_function(
        "java-lib",
        "example.Library::handleRequest",
        _zip(user_classes, extra={"lib/greetings.jar": library_jar}),
    )
    assert _invoke(lambda_client, zipped, b'"Grace"')[0] == "Greetings, Grace"


def test_init_errors_say_what_aws_says(
    java_function: Callable[..., str], lambda_client: Any, server: RunningServer, tmp_path: Path
) -> None:
    classes = _compile(server, tmp_path, {"example/Hello.java": HELLO})
    missing_class = java_function("java-no-class", "example.Missing::handleRequest", _zip(classes))
    error, response = _invoke(lambda_client, missing_class, b"{}")
    assert response["FunctionError"] == "Unhandled"
    assert error == {
        "errorMessage": "Class not found: example.Missing",
        "errorType": "java.lang.ClassNotFoundException",
    }
    missing_method = java_function("java-no-method", "example.Hello::nothing", _zip(classes))
    error, _ = _invoke(lambda_client, missing_method, b"{}")
    assert error == {
        "errorMessage": "No public method named nothing with appropriate method signature found on class example.Hello"
    }


def test_a_generic_base_class_binds_the_event_type(
    java_function: Callable[..., str], lambda_client: Any, server: RunningServer, tmp_path: Path
) -> None:
    """RequestHandler<I, O> bound through a generic superclass: the event is mapped to the I the
    subclass names, not to a Map."""
    classes = _compile(server, tmp_path, {"example/Base.java": GENERIC_BASE, "example/Generic.java": GENERIC})
    name = java_function("java-generic", "example.Generic", _zip(classes))
    assert _invoke(lambda_client, name, b'{"word": "duke"}')[0] == "DUKE"
