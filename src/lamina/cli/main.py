"""`lamina` commands: server, env, logs, admin, cost, tune; init, deploy, invoke, dev for projects.

Imports stay lazy (each command imports what it needs when it runs): `lamina env` and `lamina -h`
should answer at once, and boto3 alone costs about a second.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from lamina.config import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_REGION,
    Settings,
    default_workers,
)
from lamina.domain.function_limits import SETTABLE_RANGES, FunctionLimits

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Lamina: serverless functions, self-hosted.",
    context_settings={"help_option_names": ["-h", "--help"]},
    # Plain help: the rich layout labels flags <bool> and hides nothing worth its import time.
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)

DataDir = Annotated[Path, typer.Option("--data-dir", help="Where all state lives.", envvar="LAMINA_DATA_DIR")]
Host = Annotated[str, typer.Option("--host", help="Address to listen on.", envvar="LAMINA_HOST")]
Port = Annotated[
    int, typer.Option("--port", help="Port for every API.", envvar="LAMINA_PORT", min=1, max=65535)
]
Region = Annotated[
    str,
    typer.Option(
        "--region",
        help="The default region (what `lamina env` exports; the data directory's first). Every AWS "
        "region is served: a request's own comes from its signature.",
        envvar="LAMINA_REGION",
    ),
]
# The same options for commands that talk to a running server rather than being one.
ServerHost = Annotated[
    str | None,
    typer.Option(
        "--host", help="Address of the running server [default: where it listens].", envvar="LAMINA_HOST"
    ),
]
ServerPort = Annotated[
    int | None,
    typer.Option(
        "--port",
        help="Port of the running server [default: where it listens].",
        envvar="LAMINA_PORT",
        min=1,
        max=65535,
    ),
]
ServerRegion = Annotated[
    str, typer.Option("--region", help="Region the exported variables name.", envvar="LAMINA_REGION")
]


def _show_version(value: bool) -> None:
    if value:
        from lamina import __version__

        typer.echo(f"lamina {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", callback=_show_version, is_eager=True),
    ] = False,
) -> None:
    """Lamina: serverless functions, self-hosted."""


def _has_root_credentials() -> bool:
    """LAMINA_ROOT_*: the server's credentials are given, not read from the data directory."""
    return bool(
        os.environ.get("LAMINA_ROOT_ACCESS_KEY_ID") and os.environ.get("LAMINA_ROOT_SECRET_ACCESS_KEY")
    )


def _settings(
    data_dir: Path, host: str, port: int, region: str, account_id: str, **extra: object
) -> Settings:
    return Settings(
        # Absolute: environments run with their code folder as working directory.
        data_dir=data_dir.resolve(),
        host=host,
        port=port,
        region=region,
        account_id=account_id,
        root_access_key_id=os.environ.get("LAMINA_ROOT_ACCESS_KEY_ID") or None,
        root_secret_access_key=os.environ.get("LAMINA_ROOT_SECRET_ACCESS_KEY") or None,
        **extra,  # type: ignore[arg-type]
    )


def _parse_buckets(values: list[str]) -> tuple[tuple[str, Path], ...]:
    """`--bucket photos=/srv/photos`, repeatable: names checked as S3 checks them, paths made absolute."""
    from lamina.domain.buckets.names import is_bucket_name

    parsed: dict[str, Path] = {}
    for value in values:
        name, equals, path = value.partition("=")
        if not equals or not path or not is_bucket_name(name):
            raise typer.BadParameter(f"--bucket takes NAME=PATH with an S3 bucket name: {value!r}")
        if name in parsed:
            raise typer.BadParameter(f"--bucket {name} is given twice")
        parsed[name] = Path(path).expanduser().resolve()
    return tuple(parsed.items())


def _check_code_store(value: str | None) -> str | None:
    if value is not None and (not value.startswith("s3://") or len(value) <= len("s3://")):
        raise typer.BadParameter("--code-store takes s3://BUCKET[?endpoint=URL&region=REGION]")
    return value


def _parse_memory_budget(value: str | None) -> dict[str, object]:
    """`--memory-budget 4096` (MB) or `--memory-budget 50%` (of the machine's RAM)."""
    if value is None:
        return {}
    try:
        if value.endswith("%"):
            share = float(value[:-1]) / 100
            if not 0 < share <= 1:
                raise ValueError
            return {"memory_budget_share": share}
        megabytes = int(value)
        if megabytes <= 0:
            raise ValueError
    except ValueError:
        raise typer.BadParameter(
            f"expected megabytes (e.g. 4096) or a share of RAM (e.g. 50%), got {value!r}"
        ) from None
    return {"memory_budget_mb": megabytes}


def _parse_uid_range(value: str) -> tuple[int, int]:
    """FIRST-LAST, e.g. "100000-165535", as (first, count)."""
    first, separator, last = value.partition("-")
    try:
        low, high = int(first), int(last)
    except ValueError:
        low = high = -1
    if not separator or low <= 0 or high < low:
        raise typer.BadParameter(f"expected FIRST-LAST uids above 0, got {value!r}")
    from lamina.server import sandbox_uids_refusal

    # The server kills every process of its range at start: never a user's uids, nor uids past the
    # last one (each invocation would fail).
    problem = sandbox_uids_refusal(low, high - low + 1)
    if problem is not None:
        raise typer.BadParameter(problem)
    return low, high - low + 1


def _check_pids_budget(value: int, pid_max: Path = Path("/proc/sys/kernel/pid_max")) -> None:
    """At most the host's pid_max: a pids cgroup takes no more (a larger number fails with ERANGE)."""
    try:
        limit = int(pid_max.read_text())
    except (OSError, ValueError):
        limit = 4_194_304  # PID_MAX_LIMIT, the kernel's highest pid_max on 64-bit hosts
    if value > limit:
        raise typer.BadParameter(f"--pids-budget must be at most the host's pid_max ({limit}), got {value}")


def _parse_delays(value: str) -> tuple[float, ...]:
    """Comma-separated seconds, e.g. "60,120"."""
    try:
        delays = tuple(float(part) for part in value.split(","))
    except ValueError:
        delays = (-1.0,)
    if not delays or any(delay < 0 for delay in delays):
        raise typer.BadParameter(f"expected comma-separated seconds like 60,120, got {value!r}")
    return delays


def _parse_runtimes(values: list[str]) -> dict[str, str]:
    from lamina.domain.runtimes import language_of

    runtimes: dict[str, str] = {}
    for value in values:
        name, separator, interpreter = value.partition("=")
        if not separator or not name or not interpreter:
            raise typer.BadParameter(f"expected NAME=INTERPRETER, got {value!r}")
        if language_of(name) not in ("python", "nodejs"):
            raise typer.BadParameter(f"{name}: only pythonX.Y and nodejsNN.x runtimes take an interpreter")
        runtimes[name] = interpreter
    return runtimes


def _http_limit_names() -> str:
    from lamina.cli.http_limits import limit_names

    return limit_names()


def _log_limit_names() -> str:
    from lamina.cli.log_limits import limit_names

    return limit_names()


@app.command("_worker", hidden=True)
def worker() -> None:
    """One worker of `lamina server --workers N`, started by the primary with its spec on stdin."""
    import pickle

    from lamina.cluster.workers import WorkerSpec
    from lamina.server import serve_worker

    spec = pickle.loads(sys.stdin.buffer.read())
    if not isinstance(spec, WorkerSpec):
        raise SystemExit(
            "lamina _worker: expected a worker spec on standard input (the primary starts workers)"
        )
    serve_worker(spec)


@app.command()
def server(
    data_dir: DataDir = Path(".lamina"),
    host: Host = DEFAULT_HOST,
    port: Port = DEFAULT_PORT,
    region: Region = DEFAULT_REGION,
    account_id: Annotated[
        str,
        typer.Option(
            "--account-id",
            envvar="LAMINA_ACCOUNT_ID",
            help="12 digits: the first account's id, in ARNs and as the root's account.",
        ),
    ] = DEFAULT_ACCOUNT_ID,
    keep_alive: Annotated[
        float, typer.Option("--keep-alive", help="Seconds an idle environment stays warm.", min=0)
    ] = 600.0,
    keep_alive_policy: Annotated[
        str,
        typer.Option(
            "--keep-alive-policy",
            help="fixed (--keep-alive for every function) or adaptive (learns each function's "
            "idle times, pre-warms periodic ones; --keep-alive until it has seen enough).",
        ),
    ] = "fixed",
    memory_budget: Annotated[
        str | None,
        typer.Option(
            "--memory-budget",
            help="MB all environments may use together (each costs its MemorySize), or a share of "
            "RAM like 50%. Default: 50% of RAM.",
        ),
    ] = None,
    runtime: Annotated[
        list[str],
        typer.Option(
            "--runtime",
            metavar="NAME=INTERPRETER",
            help="Extra runtime as NAME=INTERPRETER: python3.12=/usr/bin/python3.12, nodejs22.x=/opt/node22/bin/node.",
        ),
    ] = [],  # noqa: B006
    metadata: Annotated[
        str | None,
        typer.Option(
            "--metadata",
            help="Where functions, IAM, async queues, metrics, alarms and billing live: the data "
            "directory's SQLite files (default), or a postgresql://USER@HOST/DB URL several servers "
            "may share (pip install 'lamina[postgres]').",
        ),
    ] = None,
    bucket: Annotated[
        list[str] | None,
        typer.Option(
            "--bucket",
            help="NAME=PATH: a bucket whose objects are the files of a host directory; files any "
            "program creates, changes or removes there are bucket events (repeatable).",
        ),
    ] = None,
    code_store: Annotated[
        str | None,
        typer.Option(
            "--code-store",
            help="s3://BUCKET?endpoint=URL: keep code packages and layers in an S3-compatible store "
            "(another Lamina, MinIO, AWS S3; credentials from the usual AWS variables or "
            "LAMINA_CODE_STORE_ACCESS_KEY_ID/SECRET), the data directory caching them.",
        ),
    ] = None,
    smtp_port: Annotated[
        int | None,
        typer.Option(
            "--smtp-port",
            min=1,
            max=65535,
            help="Receive mail by SMTP on this port: messages to recipients of the active SES receipt "
            "rule set run its rules (functions, buckets, topics); others are refused at RCPT.",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Processes serving the port: a primary (the control plane, async queues) and "
            "workers running invocations beside it (see docs/architecture.md); at most the cores "
            "this process may use is sensible. Default: those cores, at most 8 "
            f"({default_workers()} here); 1 with --cluster.",
            min=1,
            max=256,
        ),
    ] = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            help="Run functions on a Ray cluster: HOST:PORT of its head, auto, ray://HOST:10001, or "
            "local for a private Ray instance on this machine (pip install 'lamina[ray]').",
        ),
    ] = None,
    runtime_fallback: Annotated[
        str,
        typer.Option(
            "--runtime-fallback",
            help="none, or nearest: run a runtime this host lacks (python3.14, nodejs22.x) on the "
            "nearest version of its language that it has, with a warning.",
        ),
    ] = "none",
    account_concurrency: Annotated[
        int, typer.Option("--account-concurrency", help="Invocations the account may run at once.", min=1)
    ] = 1000,
    min_unreserved_concurrency: Annotated[
        int,
        typer.Option(
            "--min-unreserved-concurrency",
            help="Concurrency PutFunctionConcurrency must leave unreserved (AWS: 100).",
        ),
    ] = 100,
    async_retry_delays: Annotated[
        str,
        typer.Option(
            "--async-retry-delays",
            help="Seconds before the retries of a failed Event invocation, comma-separated (AWS: 60,120).",
        ),
    ] = "60,120",
    start_method: Annotated[
        str, typer.Option("--start-method", help="zygote (fork warm interpreters) or spawn.")
    ] = "zygote",
    preload: Annotated[
        str | None,
        typer.Option(
            "--preload", help="Modules the fork server imports ahead, comma-separated (e.g. boto3)."
        ),
    ] = None,
    memory_limits: Annotated[
        str, typer.Option("--memory-limits", help="auto (cgroups when available) or watchdog.")
    ] = "auto",
    sandbox: Annotated[
        str,
        typer.Option(
            "--sandbox",
            help="How environments are confined: auto (the strongest that works here), process or "
            "namespaces.",
        ),
    ] = "auto",
    sandbox_uids: Annotated[
        str | None,
        typer.Option(
            "--sandbox-uids",
            help="FIRST-LAST: uids environments run as when the server is root, held by this server "
            "alone (another server's overlapping range is refused), never a user's (/etc/passwd) or "
            "subordinate uids (/etc/subuid). Default: the first free block of 65,536 from 100000 up.",
        ),
    ] = None,
    pids_budget: Annotated[
        int | None,
        typer.Option(
            "--pids-budget",
            help="Processes and threads all environments may have together (a pids cgroup). "
            "At most the host's pid_max; default: half of it.",
            min=1,
        ),
    ] = None,
    fake_clock: Annotated[
        bool,
        typer.Option(
            "--fake-clock",
            help="For tests: metrics, alarms and billing read a clock that only POST /_lamina/clock moves.",
        ),
    ] = False,
    http_limit: Annotated[
        list[str],
        typer.Option(
            "--http-limit",
            metavar="NAME=VALUE",
            help="NAME=VALUE, repeatable: a limit of the public port (sizes in bytes, times in "
            "seconds; off for no timeout or cap). Names and defaults: " + _http_limit_names(),
        ),
    ] = [],  # noqa: B006
    max_timeout: Annotated[
        int | None,
        typer.Option(
            "--max-timeout",
            metavar="SECONDS",
            help="The longest Timeout a function may have (AWS: 900). Every account unless "
            "`lamina admin limits` gives it its own.",
            min=1,
            max=int(SETTABLE_RANGES["max_timeout_s"][1]),
        ),
    ] = None,
    max_memory: Annotated[
        int | None,
        typer.Option(
            "--max-memory",
            metavar="MB",
            help="The largest MemorySize (AWS: 10240).",
            min=128,
            max=int(SETTABLE_RANGES["max_memory_mb"][1]),
        ),
    ] = None,
    max_ephemeral_storage: Annotated[
        int | None,
        typer.Option(
            "--max-ephemeral-storage",
            metavar="MB",
            help="The largest EphemeralStorage size (AWS: 10240).",
            min=512,
            max=int(SETTABLE_RANGES["max_ephemeral_mb"][1]),
        ),
    ] = None,
    max_payload: Annotated[
        int | None,
        typer.Option(
            "--max-payload",
            metavar="MB",
            help="The largest synchronous request and response payload (AWS: 6).",
            min=1,
            max=int(SETTABLE_RANGES["max_payload_bytes"][1]),
        ),
    ] = None,
    max_cpus: Annotated[
        float | None,
        typer.Option(
            "--max-cpus",
            metavar="CPUS",
            help="The most CPUs a function's LAMINA_CPUS may ask for (default: this host's cores).",
            min=0.01,
            max=SETTABLE_RANGES["max_cpus"][1],
        ),
    ] = None,
    gpus: Annotated[
        str,
        typer.Option(
            "--gpus",
            metavar="auto|off",
            help="auto: offer the host's NVIDIA GPUs (found through NVML or nvidia-smi) to functions "
            "that set LAMINA_GPUS or LAMINA_GPU_MEMORY_MB; off: offer none.",
        ),
    ] = "auto",
    nvidia_smi: Annotated[
        str | None,
        typer.Option(
            "--nvidia-smi",
            metavar="PATH",
            help="Ask this nvidia-smi for the GPUs (and their use) instead of NVML.",
            envvar="LAMINA_NVIDIA_SMI",
        ),
    ] = None,
    gpu_devices: Annotated[
        Path,
        typer.Option(
            "--gpu-devices",
            metavar="DIR",
            help="Where the GPUs' device nodes (nvidia0, nvidiactl...) are.",
        ),
    ] = Path("/dev"),
    log_limit: Annotated[
        list[str],
        typer.Option(
            "--log-limit",
            metavar="NAME=VALUE",
            help="NAME=VALUE, repeatable: what functions may log, in bytes (K, M, G allowed): a rate "
            "per function, the buffers held in memory, each account's disk quota. Names and "
            "defaults: " + _log_limit_names(),
        ),
    ] = [],  # noqa: B006
) -> None:
    """Serve every API on one port until SIGTERM or Ctrl-C."""
    from lamina.cli.data_dir import lock_data_dir
    from lamina.cli.http_limits import parse_http_limits
    from lamina.cli.log_limits import parse_log_limits
    from lamina.server import serve

    if len(account_id) != 12 or not account_id.isdigit():
        raise typer.BadParameter("--account-id must be 12 digits")
    if start_method not in ("zygote", "spawn"):
        raise typer.BadParameter("--start-method must be zygote or spawn")
    if runtime_fallback not in ("none", "nearest"):
        raise typer.BadParameter("--runtime-fallback must be none or nearest")
    runtimes = _parse_runtimes(runtime)
    if cluster is not None and workers is not None and workers > 1:
        raise typer.BadParameter("--cluster runs functions on the cluster's nodes: use it without --workers")
    if workers is None:
        workers = 1 if cluster is not None else default_workers()
    if metadata is not None and not metadata.startswith(("postgresql://", "postgres://")):
        raise typer.BadParameter("--metadata takes a postgresql:// URL")
    if memory_limits not in ("auto", "watchdog"):
        raise typer.BadParameter("--memory-limits must be auto or watchdog")
    if keep_alive_policy not in ("fixed", "adaptive"):
        raise typer.BadParameter("--keep-alive-policy must be fixed or adaptive")
    if sandbox not in ("auto", "process", "namespaces"):
        raise typer.BadParameter("--sandbox must be auto, process or namespaces")
    if pids_budget is not None:
        _check_pids_budget(pids_budget)
    if gpus not in ("auto", "off"):
        raise typer.BadParameter("--gpus must be auto or off")
    uids = {} if sandbox_uids is None else {"sandbox_uids": _parse_uid_range(sandbox_uids)}
    function_limits = _function_limits(max_timeout, max_memory, max_ephemeral_storage, max_payload, max_cpus)
    http_limits = parse_http_limits(http_limit)
    log_limits = parse_log_limits(log_limit)
    lock = lock_data_dir(data_dir, host, port)  # held until this process exits
    serve(
        _settings(
            data_dir,
            host,
            port,
            region,
            account_id,
            keep_alive_seconds=keep_alive,
            keep_alive_policy=keep_alive_policy,
            **_parse_memory_budget(memory_budget),
            runtimes=runtimes,
            runtime_fallback=runtime_fallback,
            metadata_url=metadata,
            directory_buckets=_parse_buckets(bucket or []),
            code_store_url=_check_code_store(code_store),
            smtp_port=smtp_port,
            workers=workers,
            cluster=cluster,
            account_concurrency=account_concurrency,
            min_unreserved_concurrency=min_unreserved_concurrency,
            async_retry_delays=_parse_delays(async_retry_delays),
            memory_limits=memory_limits,
            start_method=start_method,
            zygote_preload=preload,
            sandbox=sandbox,
            **uids,
            sandbox_uids_explicit=sandbox_uids is not None,
            pids_budget=pids_budget,
            fake_clock=fake_clock,
            http_limits=http_limits,
            log_limits=log_limits,
            function_limits=function_limits,
            gpus=gpus,
            nvidia_smi=nvidia_smi,
            gpu_device_dir=gpu_devices.resolve(),
        )
    )
    lock.release()


def _function_limits(
    timeout: int | None, memory: int | None, ephemeral: int | None, payload: int | None, cpus: float | None
) -> FunctionLimits:
    raised = {
        "max_timeout_s": timeout,
        "max_memory_mb": memory,
        "max_ephemeral_mb": ephemeral,
        "max_payload_bytes": payload * 1024 * 1024 if payload is not None else None,
        "max_cpus": cpus,
    }
    return FunctionLimits().overridden({key: value for key, value in raised.items() if value is not None})


@app.command()
def env(
    data_dir: DataDir = Path(".lamina"),
    host: ServerHost = None,
    port: ServerPort = None,
    region: ServerRegion = DEFAULT_REGION,
) -> None:
    """Print export lines so that `eval "$(lamina env)"` points boto3 and the aws CLI at Lamina."""
    from lamina.cli.data_dir import existing_data_dir, root_credentials

    if not _has_root_credentials():
        data_dir = existing_data_dir(data_dir)
    settings = _settings(data_dir, *_server_address(data_dir, host, port), region, DEFAULT_ACCOUNT_ID)
    credentials = root_credentials(settings)
    _print_exports(settings, credentials.access_key_id, credentials.secret_access_key)


def _server_address(data_dir: Path, host: str | None, port: int | None) -> tuple[str, int]:
    """--host/--port where given, else where the data directory's server said it listens, else
    the defaults."""
    from lamina.cli.data_dir import server_address

    listening = server_address(data_dir) or (DEFAULT_HOST, DEFAULT_PORT)
    return host or listening[0], port or listening[1]


def _print_exports(settings: Settings, access_key_id: str, secret_access_key: str) -> None:
    """AWS_DISABLE_HOST_PREFIX_INJECTION: some operations (StartLiveTail) would otherwise be sent to
    `stream-<host>`, a name that does not resolve for a local endpoint."""
    typer.echo(f"export AWS_ENDPOINT_URL={settings.endpoint_url}")
    typer.echo(f"export AWS_ACCESS_KEY_ID={access_key_id}")
    typer.echo(f"export AWS_SECRET_ACCESS_KEY={secret_access_key}")
    typer.echo(f"export AWS_DEFAULT_REGION={settings.region}")
    typer.echo("export AWS_DISABLE_HOST_PREFIX_INJECTION=true")


admin_app = typer.Typer(
    no_args_is_help=True,
    help="Administer a running server (first account's root only).",
    rich_markup_mode=None,
)
app.add_typer(admin_app, name="admin")


@admin_app.command("create-account")
def create_account(
    account_id: Annotated[
        str | None, typer.Option("--account-id", help="12 digits; default: a new random id.")
    ] = None,
    data_dir: DataDir = Path(".lamina"),
    host: ServerHost = None,
    port: ServerPort = None,
    region: ServerRegion = DEFAULT_REGION,
) -> None:
    """Create an account with its own root credentials, printed once as export lines."""
    from lamina.cli.admin import create_account as create
    from lamina.cli.data_dir import existing_data_dir

    if not _has_root_credentials():
        data_dir = existing_data_dir(data_dir)
    settings = _settings(data_dir, *_server_address(data_dir, host, port), region, DEFAULT_ACCOUNT_ID)
    created = create(settings, account_id)
    typer.echo(f"# account {created['AccountId']}: its root credentials (shown this once)")
    _print_exports(settings, created["AccessKeyId"], created["SecretAccessKey"])


@admin_app.command("limits")
def limits(
    account_id: Annotated[str, typer.Option("--account-id", help="The account (12 digits).")],
    max_timeout: Annotated[
        int | None, typer.Option("--max-timeout", metavar="SECONDS", help="Its longest Timeout.")
    ] = None,
    max_memory: Annotated[
        int | None, typer.Option("--max-memory", metavar="MB", help="Its largest MemorySize.")
    ] = None,
    max_ephemeral_storage: Annotated[
        int | None,
        typer.Option("--max-ephemeral-storage", metavar="MB", help="Its largest EphemeralStorage."),
    ] = None,
    max_payload: Annotated[
        int | None, typer.Option("--max-payload", metavar="MB", help="Its largest synchronous payload.")
    ] = None,
    max_cpus: Annotated[
        float | None, typer.Option("--max-cpus", metavar="CPUS", help="The most its LAMINA_CPUS may ask for.")
    ] = None,
    reset: Annotated[bool, typer.Option("--reset", help="Give it the server's limits again.")] = False,
    data_dir: DataDir = Path(".lamina"),
    host: ServerHost = None,
    port: ServerPort = None,
    region: ServerRegion = DEFAULT_REGION,
) -> None:
    """Show an account's function limits; with --max-* or --reset, give it its own first (the
    options given replace all it had of its own)."""
    from lamina.cli.admin import account_limits, set_account_limits
    from lamina.cli.data_dir import existing_data_dir

    if not _has_root_credentials():
        data_dir = existing_data_dir(data_dir)
    settings = _settings(data_dir, *_server_address(data_dir, host, port), region, DEFAULT_ACCOUNT_ID)
    own = {
        "MaxTimeout": max_timeout,
        "MaxMemory": max_memory,
        "MaxEphemeralStorage": max_ephemeral_storage,
        "MaxPayload": max_payload,
        "MaxCpus": max_cpus,
    }
    given = {name: value for name, value in own.items() if value is not None}
    if reset and given:
        raise typer.BadParameter("--reset gives the server's limits back: use it without --max-*")
    if reset or given:
        answer = set_account_limits(settings, account_id, given)
    else:
        answer = account_limits(settings, account_id)
    typer.echo(json.dumps(answer, indent=2))


@app.command()
def logs(
    function_name: Annotated[str, typer.Argument(help="Function name.", metavar="FUNCTION")],
    data_dir: DataDir = Path(".lamina"),
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new events.")] = False,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between polls with --follow.")] = 0.5,
    account_id: Annotated[
        str | None, typer.Option("--account-id", help="An account made with `lamina admin create-account`.")
    ] = None,
    region: Annotated[
        str | None, typer.Option("--region", help="The function's region; default: the data's first region.")
    ] = None,
    metadata: Annotated[
        str | None,
        typer.Option(
            "--metadata",
            help="The postgresql:// URL the server keeps its logs in; default: the one the data "
            "directory's server last ran with.",
        ),
    ] = None,
) -> None:
    """Print a function's log events (all streams, oldest first)."""
    from lamina.cli.data_dir import existing_data_dir
    from lamina.cli.log_printer import print_logs

    print_logs(
        existing_data_dir(data_dir),
        function_name,
        follow=follow,
        interval=interval,
        account_id=account_id,
        region=region,
        metadata_url=metadata,
    )


@app.command()
def schedules(
    data_dir: DataDir = Path(".lamina"),
    expression: Annotated[
        str | None,
        typer.Option(
            "--expression", "-e", help="Check an expression instead: rate(...), cron(...) or at(...)."
        ),
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option("--timezone", help="Show times (and evaluate --expression) in this IANA zone."),
    ] = None,
    count: Annotated[int, typer.Option("--count", "-n", min=1, max=100, help="Fire times to show.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
    metadata: Annotated[
        str | None,
        typer.Option(
            "--metadata", help="The postgresql:// URL the server keeps its state in, when not SQLite."
        ),
    ] = None,
) -> None:
    """List every schedule rule and Scheduler schedule with its next fire times in your time zone."""
    from lamina.cli.schedules import print_expression, print_schedules

    if expression is not None:
        print_expression(expression, timezone, count, as_json)
        return
    from lamina.cli.data_dir import existing_data_dir

    print_schedules(existing_data_dir(data_dir), metadata, timezone, count, as_json)


@app.command("java-interfaces")
def java_interfaces(
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the jar.")] = Path(
        "aws-lambda-java-core.jar"
    ),
) -> None:
    """Write Lamina's copy of aws-lambda-java-core (RequestHandler, Context...) to compile Java
    functions against: javac -cp aws-lambda-java-core.jar ... (needs a JDK and Jackson's jars)."""
    from lamina.server import write_java_interfaces

    try:
        written = write_java_interfaces(output)
    except OSError as error:
        raise typer.BadParameter(f"cannot write {output}: {error.strerror or error}") from None
    if not written:
        raise typer.BadParameter(
            "this host cannot build Lamina's Java runtime: it needs a JDK (javac, Java 11 or later) "
            "and Jackson's jars (Debian: libjackson2-databind-java)"
        )
    typer.echo(str(output))


ProjectDir = Annotated[Path, typer.Argument(help="The project folder (its template.yaml).", metavar="[DIR]")]
StackName = Annotated[
    str | None, typer.Option("--stack-name", help="The stack [default: the project folder's name].")
]
Parameters = Annotated[
    list[str] | None,
    typer.Option(
        "--parameter", "-p", help="KEY=VALUE for a template parameter; repeatable.", metavar="KEY=VALUE"
    ),
]


def _project_settings(
    data_dir: Path, host: str | None, port: int | None, region: str
) -> Callable[[], Settings]:
    """The data directory's server, read only when no AWS_ENDPOINT_URL says where to go."""

    def settings() -> Settings:
        from lamina.cli.data_dir import existing_data_dir

        directory = data_dir if _has_root_credentials() else existing_data_dir(data_dir)
        return _settings(directory, *_server_address(directory, host, port), region, DEFAULT_ACCOUNT_ID)

    return settings


@app.command()
def init(
    directory: Annotated[
        Path | None, typer.Argument(help="Where to write the project [default: NAME].", metavar="[DIR]")
    ] = None,
    blueprint: Annotated[
        str | None, typer.Option("--blueprint", "-b", help="The blueprint to start from.")
    ] = None,
    listing: Annotated[bool, typer.Option("--list", "-l", help="Show the blueprints.")] = False,
) -> None:
    """Start a project from a blueprint (code, template.yaml, test events, README)."""
    from lamina.cli.projects import init_command

    init_command(listing, blueprint, directory)


@app.command()
def deploy(
    directory: ProjectDir = Path("."),
    stack_name: StackName = None,
    parameter: Parameters = None,
    data_dir: DataDir = Path(".lamina"),
    host: ServerHost = None,
    port: ServerPort = None,
    region: ServerRegion = DEFAULT_REGION,
) -> None:
    """Deploy a project's template.yaml as a stack (its code built and uploaded); print the outputs."""
    from lamina.cli.projects import deploy_command

    deploy_command(_project_settings(data_dir, host, port, region), directory, stack_name, parameter or [])


@app.command()
def invoke(
    function_name: Annotated[
        str,
        typer.Argument(help="A function's name, or its logical id in the project's stack.", metavar="NAME"),
    ],
    event: Annotated[
        Path | None, typer.Option("--event", "-e", help="A JSON event file (- for stdin) [default: {}].")
    ] = None,
    stack_name: StackName = None,
    qualifier: Annotated[str | None, typer.Option("--qualifier", help="A version or alias.")] = None,
    data_dir: DataDir = Path(".lamina"),
    host: ServerHost = None,
    port: ServerPort = None,
    region: ServerRegion = DEFAULT_REGION,
) -> None:
    """Invoke a function with an event; print its result and the tail of its log."""
    from lamina.cli.projects import invoke_command

    invoke_command(
        _project_settings(data_dir, host, port, region), function_name, event, stack_name, qualifier
    )


@app.command()
def dev(
    directory: ProjectDir = Path("."),
    stack_name: StackName = None,
    parameter: Parameters = None,
    data_dir: DataDir = Path(".lamina"),
    host: ServerHost = None,
    port: ServerPort = None,
    region: ServerRegion = DEFAULT_REGION,
) -> None:
    """Deploy a project, then send each saved code change to its functions (and redeploy on a
    template change) until Ctrl-C."""
    from lamina.cli.projects import dev_command

    dev_command(_project_settings(data_dir, host, port, region), directory, stack_name, parameter or [])


def _register_optional_commands() -> None:
    from lamina.cli.cost import cost_app
    from lamina.cli.tune import tune

    app.add_typer(cost_app, name="cost")
    app.command()(tune)


_register_optional_commands()


def main() -> None:
    from lamina.cli.errors import run

    run(app)
