"""Lamina's Python runtime: the process inside an execution environment that speaks the Lambda Runtime API.

Run as `python bootstrap.py` by any Python 3.8+ interpreter on the host. The `lamina` package is not
installed there, so this file is standalone: standard library only, Python 3.8 syntax at runtime.

Inputs are the environment variables AWS sets for a runtime (AWS docs, "Defined runtime environment
variables"), plus `LAMINA_RUNTIME_LIB`, a directory with the boto3/botocore the runtime provides, and
`LAMINA_RUNTIME_CHANNEL_FD`: when set, the runtime talks to the server over that inherited Unix socket
with framed messages (the same operations as the HTTP Runtime API, without HTTP's cost); otherwise it
uses the HTTP Runtime API at `AWS_LAMBDA_RUNTIME_API`. `http.client` is imported only in that case: it
costs ~20 ms of cold start (it pulls in `email` and `ssl`).

Behaviour follows the AWS Python runtime (awslambdaric): error types and messages, the context object,
the log line format and the JSON encoding of results.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import time
import traceback

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    Handler = Callable[[Any, "LambdaContext"], Any]

# Runtime API (2018-06-01) paths and headers, AWS docs "Using the Lambda runtime API for custom runtimes".
_API_PREFIX = "/2018-06-01/runtime"
_NEXT_PATH = _API_PREFIX + "/invocation/next"
_INIT_ERROR_PATH = _API_PREFIX + "/init/error"
_REQUEST_ID_HEADER = "Lambda-Runtime-Aws-Request-Id"
_DEADLINE_HEADER = "Lambda-Runtime-Deadline-Ms"
_FUNCTION_ARN_HEADER = "Lambda-Runtime-Invoked-Function-Arn"
_TRACE_ID_HEADER = "Lambda-Runtime-Trace-Id"
_CLIENT_CONTEXT_HEADER = "Lambda-Runtime-Client-Context"
_COGNITO_IDENTITY_HEADER = "Lambda-Runtime-Cognito-Identity"
_TENANT_ID_HEADER = "Lambda-Runtime-Aws-Tenant-Id"
_ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
_TRACE_ID_VARIABLE = "_X_AMZN_TRACE_ID"

# Error types of the AWS Python runtime (awslambdaric FaultException).
_IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
_USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
_HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
_MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
_BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
_MARSHAL_ERROR = "Runtime.MarshalError"
_UNMARSHAL_ERROR = "Runtime.UnmarshalError"
_CONTEXT_UNMARSHAL_ERROR = "Runtime.LambdaContextUnmarshalError"

# Layers: AWS docs "Layer paths for each Lambda runtime" (python, python/lib/python3.x/site-packages).
_LAYER_ROOT = "/opt"

# Text log lines: the AWS Python runtime's formatter, with UTC timestamps.
_LOG_FORMAT = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s"
_LOG_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"
# The server splits the merged stdout/stderr on '\n'; AWS's runtime joins the lines of one record with
# '\r' (and indents trace lines with no-break spaces, which log viewers do not strip).
_RECORD_LINE_SEPARATOR = "\r"
_TRACE_INDENT = "\u00a0"


class _Fault(Exception):
    """A failure reported with an AWS `Runtime.*` error type instead of the Python exception's class name."""

    def __init__(self, error_type: str, message: str, stack_trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.stack_trace = stack_trace or []

    def body(self, request_id: str) -> dict[str, Any]:
        return _error_body(self.message, self.error_type, self.stack_trace, request_id)


class _ApiGone(Exception):
    """The Runtime API cannot be reached: the server has shut the environment down."""


class _ApiFatal(Exception):
    """The Runtime API answered with an error after which a runtime must exit (500: "non-recoverable state")."""


# --- Context -------------------------------------------------------------------------------------------


class CognitoIdentity:
    """`context.identity`: the Amazon Cognito identity that invoked the function (None attributes if none)."""

    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self, identity: Mapping[str, Any]) -> None:
        self.cognito_identity_id = identity.get("cognitoIdentityId")
        self.cognito_identity_pool_id = identity.get("cognitoIdentityPoolId")

    def __repr__(self) -> str:
        return (
            f"CognitoIdentity([cognito_identity_id={self.cognito_identity_id},"
            f"cognito_identity_pool_id={self.cognito_identity_pool_id}])"
        )


class Client:
    """`context.client_context.client`: the mobile client application, keyed as the AWS Mobile SDK sends it."""

    __slots__ = ("app_package_name", "app_title", "app_version_code", "app_version_name", "installation_id")

    def __init__(self, client: Mapping[str, Any]) -> None:
        for name in self.__slots__:
            setattr(self, name, client.get(name))

    def __repr__(self) -> str:
        fields = ",".join(f"{name}={getattr(self, name)}" for name in self.__slots__)
        return f"Client([{fields}])"


class ClientContext:
    """`context.client_context`: the ClientContext the caller passed to Invoke."""

    __slots__ = ("client", "custom", "env")

    def __init__(self, client_context: Mapping[str, Any]) -> None:
        client = client_context.get("client")
        self.client = Client(client) if isinstance(client, dict) else None
        self.custom = client_context.get("custom")
        self.env = client_context.get("env")

    def __repr__(self) -> str:
        return f"ClientContext([custom={self.custom},env={self.env},client={self.client}])"


class _Function:
    """The function's static description, read once from the environment at startup."""

    __slots__ = ("ensure_ascii", "log_group_name", "log_stream_name", "memory_limit_in_mb", "name", "version")

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.name = environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.version = environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        # AWS's Python runtime passes the environment variable through: a string such as "128".
        self.memory_limit_in_mb = environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.ensure_ascii = _ensure_ascii()


class LambdaContext:
    """The handler's `context` argument, with the attributes of the AWS Python runtime's context.

    Named like AWS's class because user code logs it, and its repr should read the same.
    """

    __slots__ = (
        "_deadline_ms",
        "aws_request_id",
        "client_context",
        "function_name",
        "function_version",
        "identity",
        "invoked_function_arn",
        "log_group_name",
        "log_stream_name",
        "memory_limit_in_mb",
        "tenant_id",
    )

    def __init__(
        self,
        function: _Function,
        aws_request_id: str,
        deadline_ms: int,
        invoked_function_arn: str | None,
        client_context: ClientContext | None,
        identity: CognitoIdentity,
        tenant_id: str | None = None,
    ) -> None:
        self.function_name = function.name
        self.function_version = function.version
        self.memory_limit_in_mb = function.memory_limit_in_mb
        self.log_group_name = function.log_group_name
        self.log_stream_name = function.log_stream_name
        self.aws_request_id = aws_request_id
        self.invoked_function_arn = invoked_function_arn
        self.client_context = client_context
        self.identity = identity
        self.tenant_id = tenant_id
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds until the invocation times out, never negative."""
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, message: object) -> None:
        sys.stdout.write(str(message))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},"
            f"log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},"
            f"function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},"
            f"function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},"
            f"client_context={self.client_context},"
            f"identity={self.identity},"
            f"tenant_id={self.tenant_id}])"
        )


class _Invocation:
    """One event from `GET /invocation/next`: the raw body and the headers the runtime uses."""

    __slots__ = (
        "body",
        "client_context",
        "cognito_identity",
        "deadline_ms",
        "invoked_function_arn",
        "request_id",
        "tenant_id",
        "trace_id",
    )

    def __init__(self, headers: Mapping[str, str], body: bytes) -> None:
        self.body = body
        self.request_id = headers.get(_REQUEST_ID_HEADER, "")
        deadline = headers.get(_DEADLINE_HEADER, "")
        self.deadline_ms = int(deadline) if deadline.isdigit() else 0
        self.invoked_function_arn = headers.get(_FUNCTION_ARN_HEADER)
        self.trace_id = headers.get(_TRACE_ID_HEADER)
        self.client_context = headers.get(_CLIENT_CONTEXT_HEADER)
        self.cognito_identity = headers.get(_COGNITO_IDENTITY_HEADER)
        self.tenant_id = headers.get(_TENANT_ID_HEADER)


def _parse_header_json(value: str | None, name: str) -> Any:
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError as error:
        raise _Fault(_CONTEXT_UNMARSHAL_ERROR, f"Unable to parse {name} JSON: {error}") from None


def _build_context(invocation: _Invocation, function: _Function) -> LambdaContext:
    client_context = _parse_header_json(invocation.client_context, "Client Context")
    identity = _parse_header_json(invocation.cognito_identity, "Cognito Identity")
    return LambdaContext(
        function,
        aws_request_id=invocation.request_id,
        deadline_ms=invocation.deadline_ms,
        invoked_function_arn=invocation.invoked_function_arn,
        client_context=ClientContext(client_context) if isinstance(client_context, dict) else None,
        identity=CognitoIdentity(identity if isinstance(identity, dict) else {}),
        tenant_id=invocation.tenant_id,
    )


# --- Events and results --------------------------------------------------------------------------------


def _decode_event(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as error:
        raise _Fault(_UNMARSHAL_ERROR, f"Unable to unmarshal input: {error}") from None


def _ensure_ascii() -> bool:
    """AWS escapes non-ASCII characters in results, except on the python3.12 and later runtimes."""
    execution_env = os.environ.get("AWS_EXECUTION_ENV", "")
    prefix = "AWS_Lambda_python"
    if execution_env.startswith(prefix):
        version = execution_env[len(prefix) :]
    else:
        version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    major, _, minor = version.partition(".")
    if not (major.isdigit() and minor.isdigit()):
        return True
    return (int(major), int(minor)) < (3, 12)


class _ResultEncoder(json.JSONEncoder):
    """JSON for handler results, writing `decimal.Decimal` as a number with its exact digits, as AWS does.

    The standard encoder cannot emit raw text from `default()`, so each Decimal is written as a string
    marker first and the markers are replaced by the Decimal's digits afterwards. The marker holds a NUL
    and a random nonce, so it cannot collide with a string in the result.
    """

    def __init__(self, ensure_ascii: bool) -> None:
        super().__init__(ensure_ascii=ensure_ascii, allow_nan=True)
        self._decimals: list[str] = []
        self._marker = ""

    def default(self, o: Any) -> Any:
        # Imported here: decimal is only needed for values json cannot encode, and if the result holds a
        # Decimal the handler has already imported the module.
        import decimal

        if not isinstance(o, decimal.Decimal):
            return super().default(o)
        if o.is_nan():
            return float("nan")
        if not self._marker:
            self._marker = "\x00" + os.urandom(8).hex() + ":"
        self._decimals.append(str(o))
        return self._marker + str(len(self._decimals) - 1)

    def encode(self, o: Any) -> str:
        text = super().encode(o)
        if not self._decimals:
            return text
        # Imported here: only results holding Decimals need it, and json has already loaded it.
        import re

        quoted_marker = json.dumps(self._marker)[:-1]
        pattern = re.compile(re.escape(quoted_marker) + r'(\d+)"')
        return pattern.sub(lambda match: self._decimals[int(match.group(1))], text)


def _marshal_result(result: Any, ensure_ascii: bool | None = None) -> tuple[bytes, str]:
    """Return (payload, content type). Bytes pass through untouched, as in the AWS Python runtime."""
    if isinstance(result, bytes):
        return result, "application/unknown"
    if ensure_ascii is None:
        ensure_ascii = _ensure_ascii()
    try:
        try:
            text = json.dumps(result, ensure_ascii=ensure_ascii, allow_nan=True)
        except TypeError:  # a Decimal, or something no encoder takes: the full encoder decides
            text = _ResultEncoder(ensure_ascii=ensure_ascii).encode(result)
    except Exception as error:
        raise _Fault(_MARSHAL_ERROR, f"Unable to marshal response: {error}") from None
    return text.encode("utf-8"), "application/json"


# --- Errors --------------------------------------------------------------------------------------------


def _error_body(message: str, error_type: str, stack_trace: list[str], request_id: str) -> dict[str, Any]:
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": stack_trace,
    }


# (host prefix, the path AWS's environment has there), longest first: stack traces name files as a
# function on AWS sees them (/var/task, /opt, /var/runtime, /var/lang), not where this host keeps
# them. Set by main() once the function's folders are known.
_SHOWN_PATHS: list[tuple[str, str]] = []


def _show_paths_as_aws(task_root: str, layer_root: str, runtime_lib: str | None, runtime_dir: str) -> None:
    pairs = [
        (task_root, "/var/task"),
        (layer_root, "/opt"),
        (runtime_dir, "/var/runtime"),
        (sys.prefix, "/var/lang"),
        (sys.base_prefix, "/var/lang"),
    ]
    if runtime_lib:
        pairs.append((runtime_lib, "/var/runtime"))
    shown = {os.path.abspath(host).rstrip("/"): aws for host, aws in pairs if host and host != "/"}
    _SHOWN_PATHS[:] = sorted(shown.items(), key=lambda pair: len(pair[0]), reverse=True)


def _as_aws_shows(filename: str) -> str:
    for host, aws in _SHOWN_PATHS:
        if filename == host or filename.startswith(host + "/"):
            return aws + filename[len(host) :]
    return filename


def _traceback_entries(trace: Any) -> list[str]:
    """traceback.format_tb, with files named as on AWS."""
    frames = traceback.extract_tb(trace)
    return traceback.format_list(
        [(_as_aws_shows(frame.filename), frame.lineno, frame.name, frame.line) for frame in frames]
    )


def _exception_body(error: BaseException, request_id: str) -> dict[str, Any]:
    """Describe an exception from user code as AWS does: its class name, str(), and the user's frames."""
    frames = traceback.extract_tb(error.__traceback__)
    first_user_frame = 0
    while first_user_frame < len(frames) and frames[first_user_frame].filename == __file__:
        first_user_frame += 1
    # Plain tuples: from Python 3.11, formatting FrameSummary objects adds '^^^' position lines, which
    # AWS's stack traces do not have.
    entries = [
        (_as_aws_shows(frame.filename), frame.lineno, frame.name, frame.line)
        for frame in frames[first_user_frame:]
    ]
    try:
        message = str(error)
    except Exception:
        message = "<exception str() failed>"  # As the traceback module words it.
    return _error_body(message, type(error).__name__, traceback.format_list(entries), request_id)


def _error_log_line(error: Mapping[str, Any]) -> str:
    """The one log line AWS writes for an error: `[ERROR] Type: message\\rTraceback ...\\r  File ...`,
    or with LogFormat JSON an ERROR record like the logging module's (read at call time: the fork
    server loads this module before any function's variables exist)."""
    if os.environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON":
        moment = time.time()
        document = {
            "timestamp": f"{time.strftime(_LOG_DATE_FORMAT, time.gmtime(moment))}.{int(moment * 1000) % 1000:03d}Z",
            "level": "ERROR",
            "message": error["errorMessage"],
            "logger": "root",
            "requestId": error.get("requestId", ""),
            "errorType": error["errorType"],
            "errorMessage": error["errorMessage"],
            "stackTrace": list(error["stackTrace"]),
        }
        return json.dumps(document, default=str) + "\n"
    description = "[ERROR]"
    if error["errorType"]:
        description += " " + error["errorType"]
    if error["errorMessage"]:
        description += (":" if error["errorType"] else "") + " " + error["errorMessage"]
    lines = [description, "Traceback (most recent call last):"]
    for entry in error["stackTrace"]:
        for line in entry.splitlines() or [""]:
            stripped = line.lstrip(" ")
            lines.append(_TRACE_INDENT * (len(line) - len(stripped)) + stripped)
    return _RECORD_LINE_SEPARATOR.join(lines).replace("\n", _RECORD_LINE_SEPARATOR) + "\n"


# --- Standard streams and logging ----------------------------------------------------------------------


def _line_buffer_standard_streams() -> None:
    """Flush output at each newline even when the server could not pass -u or PYTHONUNBUFFERED."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            # try/except rather than contextlib.suppress: contextlib is not loaded at startup on 3.8.
            try:  # noqa: SIM105
                reconfigure(line_buffering=True)
            except (OSError, ValueError):
                pass


def _flush_standard_streams() -> None:
    """Push everything user code wrote into the pipe, so its log lines precede the result the server sees.

    User code may have replaced or closed the streams, so no failure here stops the result being posted.
    """
    for stream in {id(s): s for s in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)}.values():
        try:
            stream.flush()
        except Exception:
            continue


def _write(stream: Any, text: str) -> None:
    """Write and flush, ignoring failures: see _flush_standard_streams."""
    try:
        stream.write(text)
        stream.flush()
    except Exception:
        return


class _CurrentRequest:
    """The request id log records carry; it stays set between invocations, as on AWS."""

    __slots__ = ("request_id",)

    def __init__(self) -> None:
        self.request_id = ""


def _configure_logging(current: _CurrentRequest) -> None:
    """Give the root logger AWS's handler, so `logging.warning()` in user code is a Lambda log line.

    As on AWS the root level stays WARNING unless AWS_LAMBDA_LOG_LEVEL names a level (TRACE means DEBUG),
    and timestamps are UTC for every logging formatter in the process.
    """
    # Imported at init rather than at the top, which lists what the request loop uses. User code expects
    # the root logger configured before its module runs, so this import cannot wait for first use.
    import logging

    class RequestIdFilter(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            record.aws_request_id = current.request_id
            return True

    class OneLineHandler(logging.Handler):
        """Writes each record as one line to the current sys.stdout."""

        def emit(self, record: logging.LogRecord) -> None:
            try:
                line = self.format(record).replace("\n", _RECORD_LINE_SEPARATOR)
                sys.stdout.write(line + "\n")
            except Exception:
                self.handleError(record)

    class JsonFormatter(logging.Formatter):
        """LogFormat JSON: one object per record with timestamp, level, message, logger and requestId
        (plus errorType, errorMessage and stackTrace when it carries an exception)."""

        def format(self, record: logging.LogRecord) -> str:
            message = record.msg if isinstance(record.msg, dict) and not record.args else record.getMessage()
            document = {
                "timestamp": f"{self.formatTime(record, _LOG_DATE_FORMAT)}.{int(record.msecs):03d}Z",
                "level": record.levelname,
                "message": message,
                "logger": record.name,
                "requestId": getattr(record, "aws_request_id", ""),
            }
            if record.exc_info and record.exc_info[0] is not None:
                document["errorType"] = record.exc_info[0].__name__
                document["errorMessage"] = str(record.exc_info[1])
                document["stackTrace"] = _traceback_entries(record.exc_info[2])
            return json.dumps(document, default=str)

    logging.Formatter.converter = time.gmtime
    handler = OneLineHandler()
    json_format = os.environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON"
    handler.setFormatter(JsonFormatter() if json_format else logging.Formatter(_LOG_FORMAT, _LOG_DATE_FORMAT))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    level_name = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "INFO" if json_format else "").upper()
    if level_name == "TRACE":
        level_name = "DEBUG"
    level = logging.getLevelName(level_name) if level_name else None
    if isinstance(level, int):
        root.setLevel(level)


# --- Initialisation ------------------------------------------------------------------------------------


def _import_path(
    current: list[str],
    task_root: str,
    runtime_lib: str | None,
    runtime_dir: str,
    layer_root: str = _LAYER_ROOT,
) -> list[str]:
    """The module search path, in AWS's order: code, layers, the interpreter's own, then the runtime's SDK.

    The runtime's own directory is dropped so its files cannot shadow user modules, and the SDK goes
    last so a boto3 in the function's package or a layer wins.
    """
    runtime_dir = os.path.realpath(runtime_dir)
    rest = [entry for entry in current if os.path.realpath(entry or os.curdir) != runtime_dir]
    layer_paths = [
        os.path.join(
            layer_root, "python", "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}", "site-packages"
        ),
        os.path.join(layer_root, "python"),
    ]
    path = [task_root, *(entry for entry in layer_paths if os.path.isdir(entry)), *rest]
    if runtime_lib and runtime_lib not in path:
        path.append(runtime_lib)
    return path


def _load_handler(handler: str) -> Handler:
    """Import the handler's module (running its code, once) and return the handler function.

    `path/to/module.function` and `package.module.function` both name `function` in the module.
    """
    parts = handler.rsplit(".", 1)
    if len(parts) != 2:
        raise _Fault(
            _MALFORMED_HANDLER_NAME,
            f"Bad handler '{handler}': not enough values to unpack (expected 2, got 1)",
        )
    module_path, function_name = parts
    module_name = module_path.replace("/", ".")
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise _Fault(
            _BUILT_IN_MODULE_CONFLICT, f"Cannot use built-in module {module_path} as a handler module"
        )
    # Imported here: importlib is needed once, at init; the loop never uses it.
    import importlib

    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise _Fault(_IMPORT_MODULE_ERROR, f"Unable to import module '{module_path}': {error}") from None
    except SyntaxError as error:
        # AWS's exact (comma-less, capitalised) frame for syntax errors.
        trace = [f'  File "{error.filename}" Line {error.lineno}\n    {error.text}']
        raise _Fault(
            _USER_CODE_SYNTAX_ERROR, f"Syntax error in module '{module_path}': {error}", trace
        ) from None
    try:
        return getattr(module, function_name)
    except AttributeError:
        raise _Fault(
            _HANDLER_NOT_FOUND, f"Handler '{function_name}' missing on module '{module_path}'"
        ) from None


# --- Runtime API client --------------------------------------------------------------------------------


class _RuntimeApi:
    """Runtime API client over one persistent HTTP/1.1 connection (custom clients, AWS parity).

    Every call raises _ApiGone when the server cannot be reached (connection refused, or the connection
    fails twice in a row) and _ApiFatal on a 500, after which AWS says a runtime must exit.
    """

    def __init__(self, address: str) -> None:
        import http.client  # only this transport needs it; see the module docstring

        self._http = http.client
        self._connection = http.client.HTTPConnection(address)

    def _exchange(
        self, method: str, path: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> tuple[int, Any, bytes]:
        http = self._http
        for _attempt in range(2):
            try:
                self._connection.request(method, path, body=body, headers=dict(headers or {}))
                response = self._connection.getresponse()
                data = response.read()
            except ConnectionRefusedError:
                break
            except (OSError, http.HTTPException):
                # A keep-alive connection the server dropped: open a new one and try once more.
                self._connection.close()
                continue
            if response.status >= 500:
                raise _ApiFatal(f"{method} {path} returned {response.status}: {data[:200]!r}")
            return response.status, response.headers, data
        self._connection.close()
        raise _ApiGone

    def _post(self, path: str, body: bytes, headers: Mapping[str, str]) -> None:
        status, _, data = self._exchange("POST", path, body, headers)
        if status != 202:
            _write(sys.stderr, f"lamina runtime: POST {path} returned {status}: {data[:200]!r}\n")

    def next_invocation(self) -> _Invocation:
        status, headers, body = self._exchange("GET", _NEXT_PATH)
        if status != 200:
            raise _ApiFatal(f"GET {_NEXT_PATH} returned {status}: {body[:200]!r}")
        return _Invocation(headers, body)

    def post_response(self, request_id: str, payload: bytes, content_type: str) -> None:
        path = f"{_API_PREFIX}/invocation/{request_id}/response"
        self._post(path, payload, {"Content-Type": content_type})

    def post_error(self, request_id: str, error: Mapping[str, Any]) -> None:
        self._post(f"{_API_PREFIX}/invocation/{request_id}/error", *_error_request(error))

    def post_init_error(self, error: Mapping[str, Any]) -> None:
        self._post(_INIT_ERROR_PATH, *_error_request(error))


# Framed channel: each message is struct ">II" (header length, body length), a JSON header, the body.
# Runtime → server: {"type": "next"}, {"type": "response", "requestId"}, {"type": "error", "requestId",
# "errorType"}, {"type": "init_error", "errorType"}; server → runtime: {"type": "invoke", "requestId",
# "deadlineMs", "functionArn", "traceId", "clientContext"?, "cognitoIdentity"?} with the event as body.
_FRAME_PREFIX = struct.Struct(">II")
_NEXT_FRAME = _FRAME_PREFIX.pack(16, 0) + b'{"type": "next"}'
_json_string = json.encoder.encode_basestring  # type: ignore[attr-defined]


class _FramedRuntimeApi:
    """Runtime API client over an inherited Unix socket: one frame out per call, no acknowledgements.

    A result is held back and written together with the following `next`, and reads take whatever
    the socket has: one write and usually one read per invocation.
    """

    def __init__(self, descriptor: int) -> None:
        # Plain os.read/os.write on the descriptor: the socket module would cost ~4 ms to import.
        self._descriptor = descriptor
        self._unsent = b""
        self._received = bytearray()
        os.set_blocking(descriptor, True)

    @staticmethod
    def _frame(header: Mapping[str, Any], body: bytes = b"") -> bytes:
        encoded = json.dumps(header).encode("utf-8")
        return _FRAME_PREFIX.pack(len(encoded), len(body)) + encoded + body

    def _send(self, header: Mapping[str, Any], body: bytes = b"") -> None:
        self._unsent += self._frame(header, body)
        self._send_next_or_flush(with_next=False)

    def _send_next_or_flush(self, *, with_next: bool) -> None:
        data = memoryview(self._unsent + (_NEXT_FRAME if with_next else b""))
        self._unsent = b""
        try:
            while data:
                data = data[os.write(self._descriptor, data) :]
        except OSError:
            raise _ApiGone from None

    def _hold(self, header: Mapping[str, Any], body: bytes = b"") -> None:
        """Queue a frame for the next write (the loop's `next` follows at once)."""
        self._unsent += self._frame(header, body)

    def _receive_exactly(self, size: int) -> bytes:
        received = self._received
        while len(received) < size:
            try:
                chunk = os.read(self._descriptor, max(size - len(received), 1 << 16))
            except OSError:
                chunk = b""
            if not chunk:
                raise _ApiGone
            received += chunk
        data = bytes(received[:size])
        del received[:size]
        return data

    def next_invocation(self) -> _Invocation:
        self._send_next_or_flush(with_next=True)
        header_size, body_size = _FRAME_PREFIX.unpack(self._receive_exactly(_FRAME_PREFIX.size))
        header = json.loads(self._receive_exactly(header_size).decode("utf-8"))
        body = self._receive_exactly(body_size) if body_size else b""
        headers = {
            _REQUEST_ID_HEADER: header.get("requestId", ""),
            _DEADLINE_HEADER: str(header.get("deadlineMs", "")),
        }
        for name, key in (
            (_FUNCTION_ARN_HEADER, "functionArn"),
            (_TRACE_ID_HEADER, "traceId"),
            (_CLIENT_CONTEXT_HEADER, "clientContext"),
            (_COGNITO_IDENTITY_HEADER, "cognitoIdentity"),
        ):
            if header.get(key) is not None:
                headers[name] = header[key]
        return _Invocation(headers, body)

    def post_response(self, request_id: str, payload: bytes, content_type: str) -> None:
        # Formatted rather than json.dumps'd: this runs once per invocation (the same JSON).
        encoded = (
            f'{{"type": "response", "requestId": {_json_string(request_id)}, '
            f'"contentType": {_json_string(content_type)}}}'
        ).encode()
        self._unsent += _FRAME_PREFIX.pack(len(encoded), len(payload)) + encoded + payload

    def post_error(self, request_id: str, error: Mapping[str, Any]) -> None:
        body, headers = _error_request(error)
        self._hold({"type": "error", "requestId": request_id, "errorType": headers[_ERROR_TYPE_HEADER]}, body)

    def post_init_error(self, error: Mapping[str, Any]) -> None:
        body, headers = _error_request(error)
        self._send({"type": "init_error", "errorType": headers[_ERROR_TYPE_HEADER]}, body)


def _error_request(error: Mapping[str, Any]) -> tuple[bytes, dict[str, str]]:
    # Header values must be Latin-1; a class name may not be.
    error_type = str(error["errorType"]).encode("latin-1", "backslashreplace").decode("latin-1")
    headers = {"Content-Type": "application/json", _ERROR_TYPE_HEADER: error_type}
    return json.dumps(error).encode("utf-8"), headers


# --- The loop ------------------------------------------------------------------------------------------


def _serve(
    api: _RuntimeApi | _FramedRuntimeApi, handler: Handler, function: _Function, current: _CurrentRequest
) -> None:
    """Wait for one invocation, run the handler and post its result or error."""
    invocation = api.next_invocation()
    current.request_id = invocation.request_id
    if invocation.trace_id is not None:
        os.environ[_TRACE_ID_VARIABLE] = invocation.trace_id
    else:
        os.environ.pop(_TRACE_ID_VARIABLE, None)

    error = None
    try:
        context = _build_context(invocation, function)
        event = _decode_event(invocation.body)
        payload, content_type = _marshal_result(handler(event, context), function.ensure_ascii)
    except _Fault as fault:
        error = fault.body(invocation.request_id)
    except Exception as exception:
        error = _exception_body(exception, invocation.request_id)

    if error is not None:
        _write(sys.stdout, _error_log_line(error))
        _flush_standard_streams()
        api.post_error(invocation.request_id, error)
    else:
        _flush_standard_streams()
        api.post_response(invocation.request_id, payload, content_type)


def warm_up(rounds: int = 32) -> None:
    """Run the invocation loop `rounds` times over an in-memory channel, in a fork server before it
    forks any environment. Python 3.11+ specialises bytecode in place as it runs (and counts down to
    it on every execution before), so code first run in an environment is written to: copy-on-write
    pages, private to each environment. Run here first, those writes happen once, in the shared
    pages, and environments start with the invocation path already specialised."""
    import socket  # a fork server has it loaded already

    ours, theirs = socket.socketpair()
    try:
        header = json.dumps(
            {
                "type": "invoke",
                "requestId": "warm-up",
                "deadlineMs": 0,
                "functionArn": "",
                "traceId": "Root=1",
            }
        ).encode()
        body = b'{"warm": "up"}'
        ours.sendall((_FRAME_PREFIX.pack(len(header), len(body)) + header + body) * rounds)
        api = _FramedRuntimeApi(theirs.fileno())
        function, current = _Function({}), _CurrentRequest()
        for _ in range(rounds):
            _serve(api, lambda event, context: {"warm": event["warm"]}, function, current)
    finally:
        ours.close()
        theirs.close()
        os.environ.pop(_TRACE_ID_VARIABLE, None)


def main() -> int:
    """Initialise, then serve invocations until the server goes away. Returns the exit status."""
    _line_buffer_standard_streams()
    channel = os.environ.pop("LAMINA_RUNTIME_CHANNEL_FD", None)
    address = os.environ.get("AWS_LAMBDA_RUNTIME_API")
    api: _RuntimeApi | _FramedRuntimeApi
    if channel is not None and channel.isdigit():
        api = _FramedRuntimeApi(int(channel))
    elif address:
        api = _RuntimeApi(address)
    else:
        _write(sys.stderr, "lamina runtime: AWS_LAMBDA_RUNTIME_API is not set\n")
        return 1
    task_root = os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    runtime_dir = os.path.dirname(os.path.abspath(__file__))
    layer_root = os.environ.pop("LAMINA_LAYER_ROOT", None) or _LAYER_ROOT
    sys.path[:] = _import_path(
        sys.path, task_root, os.environ.get("LAMINA_RUNTIME_LIB"), runtime_dir, layer_root
    )
    _show_paths_as_aws(task_root, layer_root, os.environ.get("LAMINA_RUNTIME_LIB"), runtime_dir)
    current = _CurrentRequest()
    _configure_logging(current)

    try:
        handler = _load_handler(os.environ.get("_HANDLER", ""))
    except _Fault as fault:
        init_error = fault.body("")
    except Exception as exception:
        init_error = _exception_body(exception, "")
    else:
        init_error = None
    if init_error is not None:
        _write(sys.stderr, _error_log_line(init_error))
        _flush_standard_streams()
        try:
            api.post_init_error(init_error)
        except (_ApiGone, _ApiFatal):
            return 1  # Nobody is left to tell.
        return 1

    function = _Function(os.environ)
    while True:
        try:
            _serve(api, handler, function, current)
        except _ApiGone:
            return 0
        except _ApiFatal as fatal:
            _write(sys.stderr, f"lamina runtime: {fatal}\n")
            return 1
        except Exception:
            # A fault in this runtime, not in user code: log it as one line and keep serving.
            _flush_standard_streams()
            report = traceback.format_exc().replace("\n", _RECORD_LINE_SEPARATOR)
            _write(sys.stderr, f"lamina runtime: internal error: {report}\n")


if __name__ == "__main__":
    sys.exit(main())
