"""Settings, loaded once by the CLI and passed down; nothing else reads the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from lamina.domain.function_limits import FunctionLimits
from lamina.domain.regions import is_region
from lamina.execution.log_budget import EVENT_OVERHEAD_BYTES as EVENT_OVERHEAD_BYTES
from lamina.execution.log_budget import LogLimits
from lamina.transport.limits import HttpLimits, fit_payload

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5264
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "000000000000"
DEFAULT_KEEP_ALIVE_SECONDS = 600.0
DEFAULT_MEMORY_BUDGET_SHARE = 0.5
# `lamina server` without --workers: one process per core it may use, up to this many (each worker
# holds ~100 MB and its own fork servers; past this, say --workers N).
DEFAULT_MAX_WORKERS = 8
# The region of the data at the top of the data directory (Settings.home_region).
HOME_REGION_FILE = "home-region"
# The --metadata URL the data directory's server last ran with (commands that read its stores, such
# as `lamina logs`, find them there); absent when it ran on the data directory's own files.
METADATA_URL_FILE = "metadata-url"
REGIONS_FOLDER = "regions"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the server needs to know at start; immutable for the server's lifetime."""

    data_dir: Path
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    region: str = DEFAULT_REGION
    account_id: str = DEFAULT_ACCOUNT_ID
    keep_alive_seconds: float = DEFAULT_KEEP_ALIVE_SECONDS
    # "fixed": every idle environment stays `keep_alive_seconds`; "adaptive": the hybrid histogram
    # policy learns each function's idle times (falling back to `keep_alive_seconds`).
    keep_alive_policy: str = "fixed"
    # MB all environments may use together (each costs its MemorySize); None means
    # `memory_budget_share` of the machine's RAM.
    memory_budget_mb: int | None = None
    memory_budget_share: float = DEFAULT_MEMORY_BUDGET_SHARE
    # Runtime identifier (e.g. "python3.11") -> interpreter path; empty means "discover".
    runtimes: dict[str, str] = field(default_factory=dict)
    # "nearest": a runtime name this host lacks (python3.14, nodejs22.x) runs on the nearest
    # available version of its language, with a warning; "none": such functions are refused.
    runtime_fallback: str = "none"
    # Where functions, IAM, async queues, metrics, alarms and billing live: None for SQLite files in
    # the data directory, or a postgresql:// URL of a database several servers may share.
    metadata_url: str | None = None
    # --bucket NAME=PATH: buckets whose objects are the files of a host directory (events from
    # what any program does there); --code-store s3://BUCKET?endpoint=URL: code packages and layers
    # in an S3-compatible store, the data directory caching them.
    directory_buckets: tuple[tuple[str, Path], ...] = ()
    code_store_url: str | None = None
    # --smtp-port N: inbound mail on that port (on `host`), applied to the home account's active
    # SES receipt rule set; None: no mail is received.
    smtp_port: int | None = None
    # Processes serving the port (--workers): a primary and workers-1 workers (cluster/workers.py).
    workers: int = 1
    # --cluster: a Ray cluster's address (what ray.init takes) or "local" (a private Ray): functions
    # run on its nodes (cluster/ray_cluster.py); None: on this host.
    cluster: str | None = None
    account_concurrency: int = 1000
    # Reservations (PutFunctionConcurrency) must leave this much of the account limit unreserved.
    min_unreserved_concurrency: int = 100
    # Seconds before the first and the second retry of an Event invocation whose function failed
    # (AWS: one minute, then two).
    async_retry_delays: tuple[float, ...] = (60.0, 120.0)
    # "auto": kernel cgroups when the host allows them, else a watchdog; "watchdog": always poll.
    memory_limits: str = "auto"
    # "zygote": fork Python environments from a warm fork server per interpreter; "spawn": always start
    # a fresh interpreter.
    start_method: str = "zygote"
    # Extra modules the fork server imports ahead of time (comma-separated), besides Lamina's default list.
    zygote_preload: str | None = None
    # How environments are confined: "auto" (the strongest tier that works here), "process" or
    # "namespaces" (see docs/architecture.md, "Execution environments").
    sandbox: str = "auto"
    # (first, count): the unprivileged uids environments run as when the server is root. Held by this
    # server alone (sandbox/uid_ranges.py): when not `sandbox_uids_explicit`, the first block of this
    # size from here up that no other server holds is taken instead (and written back here).
    sandbox_uids: tuple[int, int] = (100_000, 65_536)
    sandbox_uids_explicit: bool = False
    # Processes and threads all environments may have together (a pids cgroup); None: half of the
    # host's pid_max.
    pids_budget: int | None = None
    # Tests: metric periods, alarms and the billing month follow a clock moved by POST /_lamina/clock.
    fake_clock: bool = False
    # Root credentials; None means "generate on first start and store in the data dir".
    root_access_key_id: str | None = None
    root_secret_access_key: str | None = None
    # The public port's request size, time and connection limits (transport/limits.py).
    http_limits: HttpLimits = field(default_factory=HttpLimits)
    # What functions may log: rate, buffers and the disk quota (execution/log_budget.py).
    log_limits: LogLimits = field(default_factory=LogLimits)
    # How far a function's configuration may go (--max-timeout and friends); an account's own
    # limits (`lamina admin limits`) replace these for it.
    function_limits: FunctionLimits = field(default_factory=FunctionLimits)
    # GPUs (execution/gpus/): "auto" finds the host's NVIDIA GPUs through NVML or nvidia-smi, "off"
    # offers none; `nvidia_smi` names the one program to ask instead; `gpu_device_dir` holds the
    # device nodes GPU environments are given.
    gpus: str = "auto"
    nvidia_smi: str | None = None
    gpu_device_dir: Path = Path("/dev")

    def __post_init__(self) -> None:
        # The public port admits the largest payload the operator allows (--max-payload).
        fitted = fit_payload(self.http_limits, self.function_limits.max_payload_bytes)
        object.__setattr__(self, "http_limits", fitted)

    @property
    def endpoint_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    @property
    def database_path(self) -> Path:
        return self.data_dir / "lamina.db"

    @property
    def identity_path(self) -> Path:
        """IAM users, keys, roles, policies and sessions (secrets encrypted)."""
        return self.data_dir / "identity.db"

    @property
    def queue_path(self) -> Path:
        """Accepted asynchronous invocations not yet settled."""
        return self.data_dir / "queue.db"

    @property
    def private_paths(self) -> tuple[Path, ...]:
        """Everything in the data directory no environment may read, even by name: every database,
        the secrets, code blobs, logs, and the other accounts' and regions' data."""
        account, region = self.account_id, self.home_region
        return (
            self.database_path,
            self.queue_path,
            self.identity_path,
            self.metrics_path(account, region),
            self.alarms_path(account, region),
            self.billing_path(account, region),
            self.secrets_dir,
            self.blobs_dir,
            self.logs_dir,
            self.data_dir / "accounts",
            self.data_dir / REGIONS_FOLDER,
        )

    @property
    def home_region(self) -> str:
        """The region whose state lies at the top of the data directory (and of each account's
        folder); other regions' lie under regions/<region>/. It is the --region of the first start,
        recorded then (`record_home_region`), so that a later --region moves nothing."""
        try:
            recorded = (self.data_dir / HOME_REGION_FILE).read_text().strip()
        except OSError:
            return self.region
        return recorded if is_region(recorded) else self.region

    def record_metadata_url(self) -> None:
        """Remember where this server's stores are, for the CLI (0600: a URL may hold a password)."""
        path = self.data_dir / METADATA_URL_FILE
        if self.metadata_url is None:
            path.unlink(missing_ok=True)
            return
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as sink:
            sink.write(self.metadata_url + "\n")

    def recorded_metadata_url(self) -> str | None:
        """The --metadata URL the data directory's server last ran with, if any."""
        try:
            return (self.data_dir / METADATA_URL_FILE).read_text().strip() or None
        except FileNotFoundError:
            return None

    def record_home_region(self) -> None:
        path = self.data_dir / HOME_REGION_FILE
        if not path.exists():
            path.write_text(self.region + "\n")

    def metrics_path(self, account_id: str, region: str) -> Path:
        """An account's metric datapoints in a region."""
        return self._region_root(account_id, region) / "metrics.db"

    def alarms_path(self, account_id: str, region: str) -> Path:
        return self._region_root(account_id, region) / "alarms.db"

    def billing_path(self, account_id: str, region: str) -> Path:
        """An account's billed usage in a region (`lamina cost` reads it)."""
        return self._region_root(account_id, region) / "billing.db"

    def recordings_path(self, account_id: str, region: str) -> Path:
        """The recorded invocations of an account's functions in a region (sealed events)."""
        return self._region_root(account_id, region) / "recordings.db"

    def _account_root(self, account_id: str) -> Path:
        return self.data_dir if account_id == self.account_id else self.data_dir / "accounts" / account_id

    def _region_root(self, account_id: str, region: str) -> Path:
        root = self._account_root(account_id)
        return root if region == self.home_region else root / REGIONS_FOLDER / region

    def region_paths(self, account_id: str, region: str) -> tuple[Path, Path, Path]:
        """(metadata database, event queue, logs folder) of an account's Lambda in a region: the
        first account's home region at the top of the data directory, other accounts' under
        accounts/<id>/, other regions' under regions/<region>/ of either."""
        root = self._region_root(account_id, region)
        return root / "lamina.db", root / "queue.db", root / "logs"

    def regions_with_state(self, account_id: str) -> list[str]:
        """The regions an account has state in on disk (its home region always)."""
        regions = {self.home_region}
        folder = self._account_root(account_id) / REGIONS_FOLDER
        if folder.is_dir():
            regions.update(entry.name for entry in folder.iterdir() if is_region(entry.name))
        return sorted(regions)

    @property
    def blobs_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def code_cache_dir(self) -> Path:
        return self.data_dir / "code"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def environments_dir(self) -> Path:
        return self.data_dir / "environments"

    @property
    def secrets_dir(self) -> Path:
        return self.data_dir / "secrets"


def default_workers() -> int:
    """The cores this process may run on (its CPU affinity), at most DEFAULT_MAX_WORKERS."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, DEFAULT_MAX_WORKERS))
