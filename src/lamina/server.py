"""Composition root: settings → stores → services → gateway → HTTP server.

The only place that builds concrete objects; everything below receives what it needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamina import __version__
from lamina.api.admin import AdminRoutes
from lamina.api.code_urls import CodeUrlSigner
from lamina.api.function_urls import FunctionUrlHandler, FunctionUrlRouter
from lamina.api.gateway import Gateway
from lamina.api.in_process import InProcessClient
from lamina.api.internal import InternalRoutes
from lamina.api.services.account_router import AccountRouter, RegionalFacades
from lamina.api.services.cloudcontrol import build_cloud_control_facade
from lamina.api.services.cloudwatch import build_cloudwatch_facades
from lamina.api.services.identity import build_iam_facade, build_sts_facade
from lamina.api.services.lambda_ import LambdaBackends, build_lambda_facade
from lamina.api.services.lambda_.authorization import LambdaAuthorization
from lamina.api.services.lambda_.code_from_buckets import CodeFromBuckets
from lamina.api.services.lambda_.router import lambda_account, no_such_account
from lamina.api.services.logs import build_logs_facade
from lamina.api.services.protocol_switch import ProtocolSwitch
from lamina.api.services.service import Service, ServiceFacade, method_table
from lamina.auth.secrets_store import RootCredentials
from lamina.clock import Clock, ManualClock, SystemClock
from lamina.cluster.change_feed import (
    ALARMS_SCOPE,
    IDENTITY_SCOPE,
    LOGS_SCOPE,
    ChangeFeed,
    Scope,
    marking_alarms,
    marking_identity,
    marking_metadata,
)
from lamina.cluster.control import ChannelClosed, ControlChannel, Handler
from lamina.cluster.follower import (
    RemoteBillingStore,
    RemoteCredentials,
    RemoteMetricStore,
    RemoteRecordingSink,
    connect,
)
from lamina.cluster.primary import primary_handlers
from lamina.cluster.ray_cluster import RayCluster
from lamina.cluster.routing import PRIMARY, InvocationRouter
from lamina.cluster.shared_counts import SharedCounts, counts_path
from lamina.cluster.workers import WorkerGroup, WorkerSpec, inbox_path, runtime_dir_for
from lamina.config import Settings
from lamina.console.app import Console
from lamina.console.visit import ConsoleParts, Renderer
from lamina.domain.function_limits import FunctionLimits
from lamina.domain.functions import FunctionConfig
from lamina.domain.gpu_requests import gpu_request
from lamina.domain.iam.evaluation import Decision
from lamina.domain.regions import is_region
from lamina.domain.runtimes import creatable_runtimes
from lamina.embedded_apis import EmbeddedApis, build_apis
from lamina.embedded_events import EmbeddedEvents, build_events
from lamina.embedded_mail import EmbeddedMail, build_mail
from lamina.embedded_queues import build_mappings, build_sqs
from lamina.embedded_s3 import EmbeddedS3, build_s3, s3_router, upload_streams
from lamina.embedded_stacks import EmbeddedStacks, build_stacks
from lamina.embedded_topics import EmbeddedTopics, build_topics
from lamina.execution.async_delivery import AsyncDelivery, DeliveryPolicy, SendToQueue
from lamina.execution.backend import LocalBackend
from lamina.execution.code_cache import CodeCache
from lamina.execution.concurrency import ConcurrencyLimiter
from lamina.execution.counts import Counts
from lamina.execution.environment import EnvironmentContext, InvocationRequest, InvocationResult
from lamina.execution.gpus.allocator import GpuAllocator
from lamina.execution.gpus.discovery import discover_gpus
from lamina.execution.gpus.exposure import has_nvidia_nodes
from lamina.execution.invocation import InvocationService, RemoteRun
from lamina.execution.log_budget import LogBudget
from lamina.execution.node_standby import NodeStandbyPool
from lamina.execution.observer import Observers
from lamina.execution.pool import EnvironmentPool, MemoryBudget
from lamina.execution.pool.budget import default_memory_budget_mb
from lamina.execution.pool.idle import IdleCountChanged, PoolKey
from lamina.execution.pool.keep_alive import build_keep_alive_policy
from lamina.execution.runtimes.catalog import (
    BOOTSTRAP,
    NODE_BOOTSTRAP,
    RuntimeSpec,
    build_node_sdk_library,
    build_sdk_library,
    discover_runtimes,
    with_nearest_fallbacks,
)
from lamina.execution.runtimes.java import default_cache, prepare_java_runtime
from lamina.execution.sandbox.cgroups import CgroupMemoryController
from lamina.execution.sandbox.detect import (
    SandboxPaths,
    SandboxUnavailable,
    UidClaim,
    build_sandbox,
    claim_uids,
)
from lamina.execution.sandbox.limits import default_pids_budget
from lamina.execution.sandbox.network import NetworkNamespaces, address_of, find_outbound_engine
from lamina.execution.sandbox.process import ProcessSandbox
from lamina.execution.sandbox.uid_ranges import host_reserved_uids, refusal
from lamina.execution.sandbox.uids import UidRange
from lamina.execution.zygote import ZygoteSandbox
from lamina.execution.zygote.process import DEFAULT_PRELOAD
from lamina.functions.aliases import AliasService
from lamina.functions.code_collector import CodeCollector, CodeUse, running_code, stored_code
from lamina.functions.concurrency import FunctionConcurrency
from lamina.functions.event_invoke_configs import EventInvokeConfigService
from lamina.functions.function_urls import FunctionUrlService
from lamina.functions.layers import LayerService
from lamina.functions.manager import FunctionManager, Placement
from lamina.functions.permissions import PermissionService
from lamina.functions.provisioned import ProvisionedConcurrency
from lamina.functions.recursion import RecursionConfigService
from lamina.functions.registry import FunctionRegistry
from lamina.functions.tags import TagService
from lamina.identity.accounts import AccountService
from lamina.identity.authorizer import Authorizer
from lamina.identity.directory import IdentityDirectory
from lamina.identity.iam import IamService
from lamina.identity.password_sign_in import PasswordSignIn
from lamina.identity.sts import StsService
from lamina.observability.billing import BillingMeter
from lamina.observability.event_recordings import EventRecorder, prune_recordings
from lamina.observability.logs.live_tail import LiveTail
from lamina.observability.logs.metric_filters import MetricFilters
from lamina.observability.logs.service import LogsService
from lamina.observability.logs.subscriptions import SubscriptionFilters
from lamina.observability.metrics.alarms import ALARM_OPERATIONS, AlarmService
from lamina.observability.metrics.embedded import MARKER as EMBEDDED_METRIC_MARKER
from lamina.observability.metrics.embedded import record_embedded
from lamina.observability.metrics.lambda_metrics import LambdaMetrics
from lamina.observability.metrics.recorder import MetricRecorder
from lamina.observability.metrics.service import METRIC_OPERATIONS, MetricsService
from lamina.observability.platform_metrics import Gauges, PlatformCounters, render_nodes
from lamina.observability.platform_metrics import render as render_prometheus
from lamina.protocol.http import WireProtocol
from lamina.protocol.json_rpc import JsonRpcProtocol
from lamina.protocol.model import create_protocol, load_service_model
from lamina.protocol.query import QueryProtocol
from lamina.protocol.sigv4 import SigV4Verifier
from lamina.sources.queues.embedded import EmbeddedQueues
from lamina.sources.queues.sender import QueueSender
from lamina.sources.queues.service import QueueService
from lamina.sources.topics.publisher import TopicPublisher
from lamina.store.group_commit import GroupCommit
from lamina.store.ports import (
    AlarmStore,
    BillingStore,
    BlobStore,
    EventQueue,
    IdentityStore,
    InFlightExchange,
    MetadataStore,
    MetricStore,
    RecordingSink,
    RecordingStore,
    ServerLogStore,
)
from lamina.store.sqlite.billing import SqliteBillingStore
from lamina.store_choice import StoreChoice
from lamina.transport.function_port import FunctionApiPort, UidsOtherThan
from lamina.transport.handoff import ConnectionInbox
from lamina.transport.messages import HandOff, LeanRequest, LeanResponse
from lamina.triggers.queue_pollers import QueuePollers
from lamina.triggers.service_invoker import ServiceInvoker

if TYPE_CHECKING:  # psycopg is the postgres extra's: imported only by servers that use it
    from lamina.store.postgres.change_bus import PostgresChangeBus

_log = logging.getLogger("lamina")
# Log events reach the disk within this many seconds (the log store buffers between flushes).
LOG_FLUSH_SECONDS = 0.2
# Asynchronous delivery acknowledges finished events in groups: the writes that make their log
# lines and metrics durable start at most this often (store/group_commit.py).
OBSERVATIONS_COMMIT_SECONDS = 0.05
# Events past their group's retention are hidden at once and deleted this often.
LOG_EXPIRY_SECONDS = 60.0
# Each account's logs on disk are measured against its quota this often (store/log_quota.py).
LOG_QUOTA_SECONDS = 2.0
# Metric datapoints are aggregated in memory and written this often.
METRIC_FLUSH_SECONDS = 5.0
# Alarms are evaluated this often (and at once when a fake clock moves).
ALARM_EVALUATION_SECONDS = 10.0
# --pids-budget with --workers: each process's share is at least this many processes and threads.
MIN_PIDS_PER_WORKER = 64
# --sandbox-uids with --workers: each process's share of the range is at least this many uids.
MIN_UIDS_PER_WORKER = 16
# --workers: a worker that has not sent its figures (health, /metrics) this soon is left out (and,
# as a worker that does not answer, replaced).
FIGURES_SECONDS = 2.0
# Servers sharing a database look for queued events of servers that stopped this often (a stopped
# server is known within LIVENESS_SECONDS, store/postgres/database.py).
ADOPT_SECONDS = 2.0
# Servers sharing a database tell each other their in-flight counts this often: a limit may be
# passed by what two servers admit within one such interval, never for longer.
IN_FLIGHT_EXCHANGE_SECONDS = 0.2
# --workers: changes no request waits for reach the workers within this many seconds.
CHANGE_SETTLE_SECONDS = 0.1


@dataclass(slots=True)
class AccountRegion:
    """One account's Lambda in one region: its functions and their stores, limits, pool and async
    queue, its logs, metrics and alarms. As on AWS, each region of an account is a namespace of its
    own with its own concurrency limit; all share the sandbox, the code cache and the memory budget."""

    account_id: str
    region: str
    metadata: MetadataStore
    queue: EventQueue
    logs: ServerLogStore
    registry: FunctionRegistry
    pool: EnvironmentPool
    backends: LambdaBackends
    facade: ServiceFacade
    function_urls: FunctionUrlHandler
    logs_api: LogsService
    subscriptions: SubscriptionFilters
    metric_filters: MetricFilters
    live_tail: LiveTail
    logs_facade: ServiceFacade
    metric_store: MetricStore
    recorder: MetricRecorder
    alarm_store: AlarmStore
    alarms: AlarmService
    billing_store: BillingStore
    billing: BillingMeter
    recording_sink: RecordingSink  # where its event recorder writes (a worker's: the primary)
    event_recorder: EventRecorder
    cloudwatch: tuple[ServiceFacade, ServiceFacade]  # query, json
    limiter: ConcurrencyLimiter  # its concurrency limits (and, servers on one database, theirs)
    log_budget: LogBudget | None = None  # what its functions may log (dropped lines are counted here)
    # The door through which its other services (logs, alarms, buckets) invoke its functions.
    invoker: ServiceInvoker | None = None
    # Its event source mappings' pollers (running on the primary, which serves the queues).
    pollers: QueuePollers | None = None
    # A worker of --workers (cluster/follower.py): answers invocations only, from copies it reloads.
    follower: bool = False
    # The primary's recorded invocations (the same object as its recording sink); None on a worker.
    recording_store: RecordingStore | None = None
    # (function, version) with provisioned concurrency: a worker leaves their invocations to the primary.
    provisioned_versions: frozenset[tuple[str, str]] = frozenset()

    async def open(self) -> None:
        await self.metadata.open()
        await self.queue.open()
        await self.metric_store.open()
        await self.alarm_store.open()
        await self.billing_store.open()
        await self.recording_sink.open()
        await self.registry.load()
        await self.backends.concurrency.restore()
        await self.backends.function_urls.restore()
        if self.follower:
            await self._load_provisioned_versions()
        else:
            await self.alarms.restore()
            self.backends.manager.settler.resume()  # creates and updates a stopped server left Pending
            await self.backends.event_invoke_configs.restore()
            await self.backends.recursion.restore()
            await self.backends.event_source_mappings.restore()
            self.subscriptions.restore()
            self.metric_filters.restore()
        self.pool.start()

    async def reload(self) -> None:
        """A worker's copies replaced by what the stores hold now (the primary changed them);
        idle environments of configurations that changed or went are stopped."""
        before = {config.name: config for config in self.registry.all_latest()}
        versions_before = {(config.name, config.version) for config in self.registry.all_configs()}
        await self.registry.reload()
        for name, config in before.items():
            current = self.registry.latest(name)
            if current is None:
                self.pool.retire(name)
            elif current != config:
                self.pool.retire(name, keep=current)
        versions_now = {(config.name, config.version) for config in self.registry.all_configs()}
        for name, version in versions_before - versions_now:
            self.pool.retire_version(name, version)
        await self.backends.concurrency.reload()
        await self.backends.function_urls.restore()
        self.backends.permissions.forget_all()
        await self._load_provisioned_versions()
        if not self.follower:  # a server sharing its database with others: what only it uses too
            await self.backends.event_invoke_configs.restore()
            await self.backends.recursion.restore()

    async def _load_provisioned_versions(self) -> None:
        self.provisioned_versions = frozenset(
            (config.function_name, config.qualifier)
            for config in await self.metadata.list_provisioned_concurrency()
        )

    def runs_here(self, name: str, qualifier: str | None) -> FunctionConfig | None:
        """On a worker: the configuration an invocation of `name` would run here, or None when the
        primary must answer it (unknown here, not Active, or provisioned: the primary holds the
        provisioned environments). A weighted alias is checked for each version it may draw."""
        config = self.registry.resolve(name, qualifier)
        if config is None:
            return None
        alias = self.registry.alias(name, qualifier) if qualifier is not None else None
        drawn = [config] + [
            self.registry.version(name, version) for version in (alias.weights if alias else {})
        ]
        for candidate in drawn:
            if (
                candidate is None
                or candidate.state != "Active"
                or (name, candidate.version) in self.provisioned_versions
                or gpu_request(candidate.environment) is not None  # the primary holds the GPUs
            ):
                return None
        return config

    async def start_delivering(self) -> None:
        """After the fork servers are warm: provisioned environments, queued events, pollers."""
        await self.backends.provisioned.restore()
        if self.pollers is not None:
            for mapping in self.backends.event_source_mappings.mappings:
                await self.pollers.apply(mapping, mapping.uuid)
        restored = await self.backends.delivery.start()
        if restored:
            _log.info(
                "%d asynchronous invocations of account %s in %s left by the last run are queued again",
                restored,
                self.account_id,
                self.region,
            )

    async def stop_environments(self) -> None:
        self.backends.manager.settler.close()  # what is left stays Pending: resumed at the next start
        self.live_tail.close()
        await self.backends.delivery.close()
        await self.pool.close()

    async def close(self) -> None:
        if self.pollers is not None:
            await self.pollers.close()
        await self.stop_environments()
        await self.queue.close()
        await self.metadata.close()
        self.logs.close()
        await self.record_embedded_metrics()
        await self.recorder.flush()
        await self.metric_store.close()
        await self.alarm_store.close()
        await self.billing.flush()
        await self.billing_store.close()
        try:
            await self.event_recorder.flush()
        except Exception:  # recordings are a debugging aid: a failed write must not stop a shutdown
            _log.exception("writing recorded invocations failed")
        await self.recording_sink.close()

    async def prune_recordings(self) -> None:
        """The primary: each function's recordings within its policy (a worker stores none)."""
        if self.recording_store is not None:
            await prune_recordings(self.recording_store, self.registry.latest, time.time())

    async def recordings(self) -> RecordingStore | None:
        """The primary's recorded invocations, with what this process recorded so far written
        (the console reads them); None on a worker."""
        if self.recording_store is None:
            return None
        await self.event_recorder.flush()
        return self.recording_store

    async def record_embedded_metrics(self) -> None:
        for timestamp_ms, message in self.logs.drain_marked():
            record_embedded(self.recorder, message, timestamp_ms)

    async def write_logs(self) -> None:
        """Appended log events to their files (the OS's page cache: a killed server keeps them)."""
        try:
            await self.logs.write_out()
        except OSError:  # a full disk: the events stay buffered for the next flush
            _log.exception("writing log events failed")

    async def persist_observations(self) -> None:
        """What asynchronous delivery awaits before the queue forgets a run: its log lines, the
        metrics embedded in them, its metrics and its billed duration, stored. Subscription filters,
        metric filters and live tail see the lines at the next periodic flush. Raises when
        something could not be written, so that the event stays queued."""
        await self.logs.write_out()
        await self.record_embedded_metrics()
        await self.recorder.flush()
        await self.billing.flush()


async def _unset_handler(request: LeanRequest) -> LeanResponse:
    raise RuntimeError("the platform's handler is set when it is built")


@dataclass(slots=True)
class Platform:
    """Everything one server process runs, wired together."""

    settings: Settings
    credentials: RootCredentials
    runtimes: dict[str, RuntimeSpec]
    sandbox: ZygoteSandbox
    app: Gateway
    identity_store: IdentityStore
    directory: IdentityDirectory
    # (account id, region) -> its Lambda there: built as a request first names the region.
    accounts: dict[tuple[str, str], AccountRegion]
    build_account: Callable[[str, str], AccountRegion]
    counters: PlatformCounters
    code_collector: CodeCollector
    # Lamina's API as execution environments reach it (AWS_ENDPOINT_URL), each one's connections capped.
    function_port: FunctionApiPort | None = None
    # The tier under `sandbox`: its uid range, held-back uids and pids budget show in health.
    isolation: ProcessSandbox | None = None
    # The namespaces tier's network namespace per environment (execution/sandbox/network.py).
    networks: NetworkNamespaces | None = None
    # The host's GPUs and who holds them (execution/gpus/).
    gpus: GpuAllocator | None = None
    # Booted Node.js runtimes for cold starts (execution/node_standby.py).
    node_standbys: NodeStandbyPool | None = None
    # The stores' adapters (SQLite files, or a shared PostgreSQL database): opened first, closed last.
    stores: StoreChoice | None = None
    # --workers: on the primary, its workers and what it tells them (cluster/workers.py); on a
    # worker, what it was started with and its link to the primary (cluster/follower.py).
    workers: WorkerGroup | None = None
    feed: ChangeFeed | None = None
    handle: Callable[[LeanRequest], Awaitable[LeanResponse]] | None = None  # the whole API
    # What every port of this process serves: `handle`, or the router in front of it (--workers).
    port_handler: Callable[[LeanRequest], Awaitable[LeanResponse]] = _unset_handler
    # On a worker: which requests move to another process before their body is read (uploads).
    moves_early: Callable[[LeanRequest], HandOff | None] = lambda request: None
    worker_handlers: dict[str, Handler] = field(default_factory=dict)  # the primary's, for its workers
    counts: SharedCounts | None = None  # --workers: what all of them count together
    budget: MemoryBudget | None = None
    clock: Clock | None = None
    cluster: RayCluster | None = None  # --cluster: the nodes functions run on
    uid_range: str | None = None  # --sandbox-uids split among --workers: the whole range given
    # --metadata postgresql://: changes other servers on the database made, and ours told to them.
    bus: PostgresChangeBus | None = None
    # The embedded S3 and SQS (the primary's alone: workers hand their requests over).
    s3: EmbeddedS3 | None = None
    queues: EmbeddedQueues | None = None
    # Puts records on queues for functions (destinations, dead-letter queues) and buckets.
    queue_sender: QueueSender | None = None
    # The embedded EventBridge (the primary's alone, like S3 and SQS).
    events: EmbeddedEvents | None = None
    topics: EmbeddedTopics | None = None  # the embedded SNS, on the resource store `events` opens
    mail: EmbeddedMail | None = None  # SES receipt rules, and the SMTP port (--smtp-port)
    apis: EmbeddedApis | None = None  # API Gateway: REST APIs and their endpoint
    stacks: EmbeddedStacks | None = None  # CloudFormation
    _settler: asyncio.Task[None] | None = None
    _adopter: asyncio.Task[None] | None = None
    _exchanger: asyncio.Task[None] | None = None
    worker: WorkerSpec | None = None
    channel: ControlChannel | None = None
    _log_flusher: asyncio.Task[None] | None = None
    _alarm_evaluator: asyncio.Task[None] | None = None
    _started: bool = False
    # Account-regions being built for a first request (a second request waits for the same one).
    _opening: dict[tuple[str, str], asyncio.Task[AccountRegion]] = field(default_factory=dict)

    @property
    def primary(self) -> AccountRegion:
        return self.accounts[(self.settings.account_id, self.settings.home_region)]

    @property
    def regions(self) -> list[str]:
        """The regions in use: any account has state there."""
        return sorted({region for _, region in self.accounts})

    async def startup(self) -> None:
        if self.function_port is not None:
            await self.function_port.bind()
        if self.stores is not None:
            await self.stores.open()
        if self.s3 is not None:
            # Only where no other server writes objects: their uploads in progress look unreferenced.
            await self.s3.buckets.open(collect=self.stores is None or self.stores.database is None)
        if self.queues is not None:
            await self.queues.open()
        if self.events is not None:
            await self.events.open()
        if self.topics is not None:
            await self.topics.open()
        if self.apis is not None:
            await self.apis.open()
        if self.stacks is not None:
            await self.stacks.open()
        await self.identity_store.open()
        await self.directory.load()
        for account_id in self.directory.account_ids:
            for region in await self._regions_with_state(account_id):
                if (account_id, region) not in self.accounts:
                    self.accounts[(account_id, region)] = self.build_account(account_id, region)
        for account in list(self.accounts.values()):
            await account.open()
            if self.worker is not None:
                await self.follow_taps(account)
        if self.worker is None:
            # Every account's references are loaded: remove code that a crash or an older version left.
            await self.code_collector.collect_quietly()
            self._alarm_evaluator = asyncio.get_running_loop().create_task(self._evaluate_alarms_forever())
        self._log_flusher = asyncio.get_running_loop().create_task(self._flush_logs_forever())
        # A worker starts its fork servers on first use: each costs ~20 MB per interpreter, and a
        # machine's worth of workers warming every interpreter would hold a gigabyte for nothing.
        if self.settings.start_method == "zygote" and self.worker is None:
            interpreters = list(
                dict.fromkeys(
                    spec.interpreter
                    for spec in self.runtimes.values()
                    if spec.language == "python" and spec.interpreter is not None
                )
            )
            await self.sandbox.warm_up(interpreters)
        # After the warm-up, so that restored environments fork from a ready zygote.
        if self.networks is not None:
            self.networks.warm_up()
        if self.cluster is not None:
            await self.cluster.start()
        if self.bus is not None:
            await self.bus.start()
        if self.feed is not None:
            self._settler = asyncio.get_running_loop().create_task(_settle_forever(self.feed))
        if self.worker is None:
            for account in list(self.accounts.values()):
                await account.start_delivering()
            if self.events is not None:
                await self.events.start()
            if self.topics is not None:
                await self.topics.start()
            if self.mail is not None:
                await self.mail.start()
            if self.stacks is not None:
                self.stacks.start()
            if self.stores is not None and self.stores.database is not None:
                self._adopter = asyncio.get_running_loop().create_task(self._adopt_forever())
            exchange = self.stores.in_flight_exchange() if self.stores is not None else None
            if exchange is not None:
                await exchange.open()
                self._exchanger = asyncio.get_running_loop().create_task(
                    self._exchange_in_flight_forever(exchange)
                )
        self._started = True

    async def _adopt_forever(self) -> None:
        """Servers sharing a database: deliver the queued events of servers that stopped."""
        while True:
            await asyncio.sleep(ADOPT_SECONDS)
            try:
                await self.open_known_regions()
                for account in list(self.accounts.values()):
                    adopted = await account.backends.delivery.adopt()
                    if adopted:
                        _log.info(
                            "%d asynchronous invocations of account %s in %s that a stopped server accepted "
                            "are delivered here",
                            adopted,
                            account.account_id,
                            account.region,
                        )
            except Exception:
                _log.exception("taking over a stopped server's queued events failed")

    async def _exchange_in_flight_forever(self, exchange: InFlightExchange) -> None:
        """Servers sharing a database: concurrency limits hold across them (see PostgresInFlight)."""
        while True:
            try:
                limiters = [account.limiter for account in list(self.accounts.values())]
                here: dict[str, int] = {}
                for limiter in limiters:
                    here.update(limiter.in_flight_here())
                elsewhere = await exchange.exchange(here)
                for limiter in limiters:
                    limiter.set_in_flight_elsewhere(elsewhere)
            except asyncio.CancelledError:
                raise
            except Exception:
                _log.exception("exchanging concurrency counts with the other servers failed")
            await asyncio.sleep(IN_FLIGHT_EXCHANGE_SECONDS)

    async def _regions_with_state(self, account_id: str) -> list[str]:
        if self.stores is None:
            return self.settings.regions_with_state(account_id)
        return await self.stores.regions_with_state(account_id)

    async def open_known_regions(self) -> None:
        """Servers sharing a database: open every account-region another server opened since, so
        that this one marks their code in use and can take over their queued events."""
        for account_id in self.directory.account_ids:
            for region in await self._regions_with_state(account_id):
                await self.account_region(account_id, region)

    async def evaluate_alarms(self) -> None:
        for account in list(self.accounts.values()):
            await account.alarms.evaluate_all()

    async def _evaluate_alarms_forever(self) -> None:
        database = self.stores.database if self.stores is not None else None
        while True:
            await asyncio.sleep(ALARM_EVALUATION_SECONDS)
            try:
                # Servers sharing a database: one evaluates (an alarm changes state once, with one
                # history entry and one action); the others hear of its changes as of any other.
                if database is None or await database.leads():
                    await self.evaluate_alarms()
            except Exception:
                _log.exception("evaluating alarms failed")

    async def add_account(self, account_id: str) -> None:
        """A new account (admin API): its Lambda state in the home region, started at once."""
        await self.account_region(account_id, self.settings.home_region)

    async def account_region(self, account_id: str, region: str) -> AccountRegion | None:
        """An existing account's Lambda in `region` (a valid region name), built and started the
        first time a request names it; None for an account that does not exist."""
        key = (account_id, region)
        found = self.accounts.get(key)
        if found is not None:
            return found
        if not self.directory.has_account(account_id):
            return None
        opening = self._opening.get(key)
        if opening is None:
            opening = self._opening[key] = asyncio.get_running_loop().create_task(self._open_region(key))
            opening.add_done_callback(lambda _: self._opening.pop(key, None))
        return await asyncio.shield(opening)

    async def _open_region(self, key: tuple[str, str]) -> AccountRegion:
        account = self.build_account(*key)
        await account.open()
        if self.worker is not None:
            await self.follow_taps(account)
        self.accounts[key] = account
        if self._started and self.worker is None:
            await account.start_delivering()
        return account

    def taps_changed(self, account_id: str, region: str, groups: frozenset[str]) -> None:
        """The primary: a subscription or metric filter or a live tail changed what is tapped."""
        if self.workers is not None:
            self.workers.notify_all("taps", account=account_id, region=region, groups=sorted(groups))

    async def gather_worker_metrics(self) -> None:
        """The primary, before a metric is read: the workers' recorded datapoints, stored."""
        if self.workers is not None:
            await self.workers.broadcast("flush_metrics")

    async def flush_metrics(self) -> None:
        """A worker: what its recorders hold, sent to the primary now."""
        for account in list(self.accounts.values()):
            await account.record_embedded_metrics()
            await account.recorder.flush()
            await account.billing.flush()
            await account.event_recorder.flush()

    async def clock_moved(self) -> None:
        """`POST /_lamina/clock` (--fake-clock): the workers' clocks follow, and what they recorded
        at the old time is stored, before alarms are evaluated at the new one; the schedules due
        by the new time have fired when the move is answered."""
        if self.workers is not None and isinstance(self.clock, ManualClock):
            await self.workers.broadcast("clock", now=self.clock.now())
        await self.evaluate_alarms()
        if self.events is not None:
            await self.events.schedules.fire_due()

    async def tapped(self, account_id: str, region: str, appended: list[Any]) -> None:
        """The primary: log lines a worker's environments wrote to tapped groups."""
        account = await self.account_region(account_id, region)
        if account is None:
            return
        lines = [
            (str(group), str(stream), [(int(t), str(m)) for t, m in events])
            for group, stream, events in appended
        ]
        await account.subscriptions.deliver(lines)
        account.metric_filters.apply(lines)
        account.live_tail.publish(lines, int(time.time() * 1000))

    async def follow_taps(self, account: AccountRegion) -> None:
        """A worker opening an account-region: tap what the primary taps there."""
        if self.channel is not None:
            groups = await self.channel.call("taps_of", account=account.account_id, region=account.region)
            account.logs.tap(frozenset(groups or ()))

    async def reclaim_memory(self, needed_mb: int, asking: int) -> bool:
        """The primary: a worker (`asking`; 0 for the primary itself) is short of `needed_mb` of the
        budget; ask the workers holding idle memory, the most first, to stop idle environments."""
        assert self.budget is not None
        freed = 0
        holders = list(self.budget.idle_in_other_workers())
        if asking != 0 and self.budget.idle_memory_mb() > 0:
            holders.insert(0, (0, self.budget.idle_memory_mb()))
        for index, _ in holders:
            if index == asking:
                continue
            if index == 0:
                freed += await self.budget.evict_idle(needed_mb - freed)
            elif self.workers is not None:
                answers = await self.workers.ask(index, "evict", mb=needed_mb - freed)
                freed += int(answers or 0)
            if freed >= needed_mb:
                break
        return freed > 0

    async def apply_changes(self, scopes: list[list[str]]) -> None:
        """A worker: the primary changed these scopes (cluster/change_feed.py); reload them."""
        for scope in scopes:
            if scope[0] == IDENTITY_SCOPE[0]:
                await self.directory.reload()
            elif scope[0] == LOGS_SCOPE and (found := self.accounts.get((scope[1], scope[2]))) is not None:
                await found.logs.refresh()
            elif scope[0] == ALARMS_SCOPE and (found := self.accounts.get((scope[1], scope[2]))) is not None:
                if not found.follower:
                    await found.alarms.restore()
            elif scope[0] == "lambda":
                account_id, region = scope[1], scope[2]
                found = self.accounts.get((account_id, region))
                if found is not None:
                    await found.reload()
                elif self.directory.has_account(account_id):
                    await self.account_region(account_id, region)

    def function_for(
        self, account_id: str, region: str, name: str, qualifier: str | None
    ) -> FunctionConfig | None:
        """A worker: what it would run for this invocation itself (None: the primary answers)."""
        account = self.accounts.get((account_id, region))
        return account.runs_here(name, qualifier) if account is not None else None

    def warm_elsewhere(self, account_id: str, region: str, config: FunctionConfig) -> int | None:
        """Another process with an idle environment of `config`, when this one has no environment
        of it at all (one that has some scales out here instead: load spreads over every process)."""
        account = self.accounts.get((account_id, region))
        if account is None or self.counts is None or account.pool.has_environment(config):
            return None
        holders = self.counts.others(idle_key(account_id, region, config.name, config.version))
        return max(holders, key=lambda holder: holder[1])[0] if holders else None

    async def stop_environments(self) -> None:
        """First step of a shutdown: in-flight invocations end now, with an error their callers see.
        Asynchronous invocations not yet settled stay queued for the next start. Every
        account-region at once: each pool takes its own seconds to close."""
        await asyncio.gather(*(account.stop_environments() for account in list(self.accounts.values())))

    async def _flush_logs_forever(self) -> None:
        """Log events reach the disk, subscription filters and embedded metrics; metrics reach their
        store; expired events and datapoints are deleted."""
        last_expiry = last_metrics = last_quota = 0.0
        while True:
            await asyncio.sleep(LOG_FLUSH_SECONDS)
            now = time.monotonic()
            expire = now - last_expiry >= LOG_EXPIRY_SECONDS
            write_metrics = now - last_metrics >= METRIC_FLUSH_SECONDS
            measure = now - last_quota >= LOG_QUOTA_SECONDS
            if expire:
                last_expiry = now
            if write_metrics:
                last_metrics = now
            if measure and self.cluster is not None:
                await self.cluster.drain_logs(self._append_node_lines)
            if measure:
                last_quota = now
            for account in list(self.accounts.values()):
                if self.worker is not None:
                    await self._flush_worker_observations(account, measure)
                    continue
                try:
                    await account.logs.write_out()
                    if measure:
                        await account.logs.enforce_quota(self.settings.log_limits.account_quota_bytes)
                    appended = account.logs.drain_tapped()
                    await account.subscriptions.deliver(appended)
                    account.metric_filters.apply(appended)
                    account.live_tail.publish(appended, int(time.time() * 1000))
                    await account.record_embedded_metrics()
                    if write_metrics:
                        began = time.perf_counter()
                        await account.recorder.flush()
                        await account.billing.flush()
                        await account.event_recorder.flush()
                        self.counters.store_flushed(time.perf_counter() - began)
                    if expire:
                        account.logs_api.expire()
                        await account.recorder.prune()
                        await account.prune_recordings()
                except Exception:  # a full disk must not stop later flushes
                    _log.exception("writing log events or metrics failed")

    def _append_node_lines(
        self, account_id: str, region: str, group: str, stream: str, events: list[tuple[int, str]]
    ) -> None:
        account = self.accounts.get((account_id, region))
        if account is not None:
            account.logs.append(group, stream, events)

    async def _flush_worker_observations(self, account: AccountRegion, send: bool) -> None:
        """A worker writes its environments' log lines itself; lines of tapped groups, metrics and
        billing go to the primary (metrics and billing when `send`: every LOG_QUOTA_SECONDS)."""
        try:
            await account.logs.write_out()
            appended = account.logs.drain_tapped()
            if appended and self.channel is not None:
                await self.channel.call(
                    "tapped", account=account.account_id, region=account.region, appended=appended
                )
            await account.record_embedded_metrics()
            if send:
                await account.recorder.flush()
                await account.billing.flush()
                await account.event_recorder.flush()
        except Exception:  # the primary gone (this worker stops soon) or a full disk
            _log.exception("writing log events or sending metrics failed")

    async def shutdown(self) -> None:
        for task in (self._log_flusher, self._alarm_evaluator, self._settler, self._adopter, self._exchanger):
            if task is not None:
                task.cancel()
        # No new mail, schedules or deliveries while the functions they reach are closing.
        if self.stacks is not None:
            await self.stacks.close()
        if self.mail is not None:
            await self.mail.close()
        if self.events is not None:
            await self.events.schedules.close()
        if self.topics is not None:
            await self.topics.close()
        if self.apis is not None:
            self.apis.close()
        # An account-region a request was opening is closed with the others.
        await asyncio.gather(*self._opening.values(), return_exceptions=True)
        await self.code_collector.close()
        for account in list(self.accounts.values()):
            await account.close()
        await self.identity_store.close()
        if self.s3 is not None:
            await self.s3.buckets.close()
        if self.queues is not None:
            await self.queues.close()
        if self.events is not None:
            await self.events.close()
        if self.bus is not None:
            await self.bus.close()
        if self.cluster is not None:
            await self.cluster.close()
        if self.stores is not None:
            await self.stores.close()
        if self.counts is not None:
            self.counts.close()
            if self.worker is None:  # the primary made the table; its workers have gone
                self.counts.path.unlink(missing_ok=True)
        if self.node_standbys is not None:
            self.node_standbys.close()
        self.sandbox.close()
        if self.networks is not None:
            self.networks.close()
        if self.function_port is not None:
            self.function_port.close()

    async def prometheus_text(self) -> str:
        """`GET /metrics`: this process's counts, plus every worker's on the primary."""
        counters, gauges = self.counters, self.gauges()
        if self.workers is not None:
            counters = PlatformCounters()
            counters.add(self.counters.to_record())
            for _, answer in await self.workers.broadcast("prometheus", timeout=FIGURES_SECONDS):
                counters.add(answer["counters"])
                gauges.add(answer["gauges"])
        text = render_prometheus(counters, gauges)
        if self.cluster is not None:
            text += render_nodes((await self.cluster.health())["agents"])
        return text

    def prometheus_record(self) -> dict[str, Any]:
        return {"counters": self.counters.to_record(), "gauges": dataclasses.asdict(self.gauges())}

    async def health_report(self) -> dict[str, Any]:
        """`/_lamina/health`: this process's, with `workers` and each worker's pool on the primary."""
        report = self.health()
        if self.cluster is not None:
            report["cluster"] = await self.cluster.health()
        if self.workers is None:
            return {**report, "workers": 1}
        pools = [{"worker": 0, "pid": os.getpid(), **self.pool_figures()}]
        for worker, answer in await self.workers.broadcast("pool", timeout=FIGURES_SECONDS):
            pools.append({"worker": worker.index, "pid": worker.pid, **answer})
        if self.isolation is not None:
            pools[0]["uidRange"] = self.isolation.health()["uidRange"]
        report["workers"] = len(pools)
        report["workerPools"] = pools
        if self.uid_range is not None:
            report["uidRange"] = self.uid_range
        for total in ("environments", "idleEnvironments", "busyEnvironments", "provisionedEnvironments"):
            report[total] = sum(pool[total] for pool in pools)
        return report

    def pool_figures(self) -> dict[str, Any]:
        usages = [account.pool.usage() for account in self.accounts.values()]
        return {
            "uidRange": self.isolation.health()["uidRange"] if self.isolation is not None else None,
            "environments": sum(len(account.pool.environments) for account in self.accounts.values()),
            "idleEnvironments": sum(usage.idle for usage in usages),
            "busyEnvironments": sum(usage.busy + usage.starting for usage in usages),
            "provisionedEnvironments": sum(usage.provisioned for usage in usages),
            "memoryUsedMb": self.primary.pool.usage().used_mb,
        }

    def gauges(self) -> Gauges:
        environments: dict[str, int] = {"idle": 0, "busy": 0, "starting": 0, "provisioned": 0}
        for account in self.accounts.values():
            usage = account.pool.usage()
            environments["idle"] += usage.idle
            environments["busy"] += usage.busy
            environments["starting"] += usage.starting
            environments["provisioned"] += usage.provisioned
        budget = self.primary.pool.usage()
        gauges = Gauges(
            environments,
            sum(account.backends.delivery.backlog for account in self.accounts.values()),
            budget.used_mb,
            budget.budget_mb,
            len(self.accounts),
            sum(
                account.log_budget.dropped_records for account in self.accounts.values() if account.log_budget
            ),
            sum(account.log_budget.dropped_bytes for account in self.accounts.values() if account.log_budget),
        )
        return gauges

    def health(self) -> dict[str, Any]:
        pools = [account.pool for account in self.accounts.values()]
        usages = [pool.usage() for pool in pools]
        primary = self.primary.pool.usage()
        return {
            "sandbox": self.sandbox.name,
            "stores": self.stores.description if self.stores is not None else "sqlite",
            "memoryEnforcement": self.sandbox.memory_enforcement,
            "startMethod": self.sandbox.start_method,
            "standbyEnvironments": self.sandbox.standby_count,
            "nodeStandbys": self.node_standbys.waiting if self.node_standbys is not None else 0,
            "nodeStandbysStarting": self.node_standbys.starting if self.node_standbys is not None else 0,
            "runtimes": list(self.runtimes),  # in version order
            # --runtime-fallback nearest: runtime name -> the runtime its functions actually run on.
            "runtimeFallbacks": {name: spec.runs_on for name, spec in self.runtimes.items() if spec.runs_on},
            "region": self.settings.region,  # clients' default (lamina env)
            "regions": self.regions,
            "accountId": self.settings.account_id,
            "accounts": len(self.accounts),
            "environments": sum(len(pool.environments) for pool in pools),
            # The memory budget all accounts share: used counts starting environments too.
            "idleEnvironments": sum(usage.idle for usage in usages),
            "busyEnvironments": sum(usage.busy + usage.starting for usage in usages),
            "provisionedEnvironments": sum(usage.provisioned for usage in usages),
            "memoryUsedMb": primary.used_mb,
            "memoryBudgetMb": primary.budget_mb,
            "keepAlivePolicy": self.primary.pool.policy.name,
            "asyncBacklog": sum(account.backends.delivery.backlog for account in self.accounts.values()),
            **(self.isolation.health() if self.isolation is not None else {}),
            # Functions' network: "host" (process tier: shared), "slirp4netns" or "pasta" (a namespace
            # each, outbound through that program) or "loopback" (a namespace each, loopback only).
            "environmentNetwork": (
                "host" if self.networks is None else self.networks.engine_name or "loopback"
            ),
            # Namespaces made ahead for cold starts (each kind asked for so far, all kinds together).
            **({"networkNamespaces": self.networks.standby_state()} if self.networks is not None else {}),
            # The host's GPUs (none is a normal state), each free, held whole or shared.
            "gpus": self.gpus.health() if self.gpus is not None else {"count": 0, "devices": []},
        }


async def _no_layers(account_id: str, region: str) -> LayerService | None:
    return None


@dataclass(frozen=True, slots=True)
class _Shared:
    """What every account's Lambda stack is built from."""

    settings: Settings
    stores: StoreChoice
    runtimes: dict[str, RuntimeSpec]
    sandbox: ZygoteSandbox
    sdk_library: Path | None
    node_sdk_library: Path | None
    blobs: BlobStore
    code: CodeCache
    code_collector: CodeCollector
    budget: MemoryBudget
    directory: IdentityDirectory
    authorizer: Authorizer
    sts: StsService
    code_urls: CodeUrlSigner
    protocol: WireProtocol
    logs_protocol: WireProtocol
    verifier: SigV4Verifier
    clock: Clock
    cloudwatch_protocols: tuple[WireProtocol, WireProtocol]
    counters: PlatformCounters
    function_port: FunctionApiPort | None = None
    networks: NetworkNamespaces | None = None
    # (account id, region) -> that account's layers there (None: no such account).
    layers_of: Callable[[str, str], Awaitable[LayerService | None]] = _no_layers
    node_standbys: NodeStandbyPool | None = None
    # --workers, on the primary: its metadata writes are told to the workers.
    feed: ChangeFeed | None = None
    # --workers, on a worker: its link to the primary (credentials, metrics and billing go there).
    link: Callable[[], ControlChannel] | None = None
    remote_credentials: RemoteCredentials | None = None
    # --workers: in-flight invocations and memory, counted by all workers together.
    counts: Counts | None = None
    # --workers, on the primary: tell the workers which log groups to tap (subscriptions, live tail).
    taps_changed: Callable[[str, str, frozenset[str]], None] | None = None
    # --workers, on the primary: datapoints the workers recorded, stored before a metric is read.
    gather_metrics: Callable[[], Awaitable[None]] | None = None
    # --cluster: where invocations run (cluster/ray_cluster.py).
    cluster: RayCluster | None = None
    # The host's GPUs and who holds them (one allocator for every account).
    gpus: GpuAllocator | None = None
    # Deployment packages named by bucket and key (the primary's: it serves the embedded S3).
    code_from_buckets: CodeFromBuckets | None = None
    # The embedded SNS's publisher (alarm actions to topics); None on a worker.
    topic_publisher: Callable[[], TopicPublisher | None] | None = None
    # Async records to queues as a function's role (destinations, dead-letter queues).
    send_to_queue: SendToQueue | None = None
    # The embedded SQS's service (the primary's; None elsewhere): what event source mappings poll.
    queue_service: Callable[[], QueueService | None] = lambda: None


def idle_key(account_id: str, region: str, name: str, version: str) -> str:
    """The shared count of a function version's idle environments (cluster/routing.py)."""
    return f"{account_id}/{region}/idle/{name}/{version}"


def _idle_publisher(counts: Counts, account_id: str, region: str) -> IdleCountChanged:
    def publish(key: PoolKey, count: int) -> None:
        with contextlib.suppress(RuntimeError):  # a full table: that version is just not advertised
            counts.set_own(idle_key(account_id, region, key[0], key[1]), count)

    return publish


def account_function_limits(
    settings: Settings, directory: IdentityDirectory, account_id: str
) -> FunctionLimits:
    """The server's limits, or the account's own (`lamina admin limits`): read per call, so a change
    applies at once."""
    own = directory.function_limits(account_id)
    return settings.function_limits.overridden(own) if own else settings.function_limits


def _gpu_hosts(shared: _Shared) -> Callable[[], list[list[int]]]:
    """Where functions run, the memory of each GPU: each node of the cluster, or this server."""
    cluster, gpus = shared.cluster, shared.gpus
    if cluster is not None:
        return cluster.gpu_hosts
    local = gpus.inventory.memory_mb if gpus is not None else []
    return lambda: [local]


def _marker(feed: ChangeFeed | None, scope: Scope) -> Callable[[], None]:
    """What a store calls when it changed `scope` outside the stores the feed wraps."""
    if feed is None:
        return lambda: None
    return lambda: feed.mark(scope)


def _build_account(shared: _Shared, account_id: str, region: str) -> AccountRegion:
    settings, sts, authorizer = shared.settings, shared.sts, shared.authorizer
    database_path, queue_path, logs_dir = settings.region_paths(account_id, region)
    database_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    logs = shared.stores.logs(
        account_id, region, logs_dir, _marker(shared.feed, (LOGS_SCOPE, account_id, region))
    )
    log_budget = LogBudget(settings.log_limits, lambda: logs.backlog_bytes, time.monotonic)
    metadata = shared.stores.metadata(account_id, region, database_path)
    if shared.feed is not None:
        metadata = marking_metadata(metadata, shared.feed, account_id, region)
    registry = FunctionRegistry(metadata)
    remote = shared.remote_credentials

    def function_limits() -> FunctionLimits:
        return account_function_limits(settings, shared.directory, account_id)

    async def environment_credentials(config: FunctionConfig) -> tuple[dict[str, str], float | None]:
        port = shared.function_port
        endpoint = port.url if port is not None and port.url else settings.endpoint_url
        if remote is not None:
            return await remote.variables(config, endpoint)
        return await sts.environment_variables(config.role, config.name, endpoint)

    context = EnvironmentContext(
        sandbox=shared.sandbox,
        log_store=logs,
        region=region,
        account_id=account_id,
        sdk_library=shared.sdk_library,
        node_sdk_library=shared.node_sdk_library,
        scratch_root=settings.environments_dir,
        credentials=environment_credentials,
        revoke_credentials=remote.revoke if remote is not None else sts.revoke_environment_session,
        log_budget=log_budget,
        networks=shared.networks,
        api_port=shared.function_port,
        node_standbys=shared.node_standbys,
        max_response_bytes=lambda: function_limits().max_response_bytes,
        gpus=shared.gpus,
        gpu_device_dir=settings.gpu_device_dir,
    )
    pool = EnvironmentPool(
        LocalBackend(shared.runtimes, shared.code, context),
        build_keep_alive_policy(settings.keep_alive_policy, settings.keep_alive_seconds),
        shared.budget,
        tick_seconds=max(0.05, min(5.0, settings.keep_alive_seconds / 4)),
        idle_counts=_idle_publisher(shared.counts, account_id, region) if shared.counts is not None else None,
        gpus=shared.gpus,
    )
    limiter = ConcurrencyLimiter(settings.account_concurrency, shared.counts, scope=f"{account_id}/{region}")
    link = shared.link
    metric_store: MetricStore = (
        RemoteMetricStore(link, account_id, region) if link else shared.stores.metrics(account_id, region)
    )
    recorder = MetricRecorder(metric_store, shared.clock)
    recorder.gather = shared.gather_metrics
    logs.watch_for(EMBEDDED_METRIC_MARKER)
    billing_store: BillingStore = (
        RemoteBillingStore(link, account_id, region) if link else shared.stores.billing(account_id, region)
    )
    billing = BillingMeter(billing_store, shared.clock)
    recording_store: RecordingStore | None = None
    if link:
        recording_sink: RecordingSink = RemoteRecordingSink(link, account_id, region)
    else:
        recording_store = recording_sink = shared.stores.recordings(account_id, region)
    event_recorder = EventRecorder(recording_sink, shared.clock)

    async def write_logs() -> None:
        await account.write_logs()

    async def persist_observations() -> None:
        await account.persist_observations()

    # Both are called only once invocations run, by when `account` (built last) exists.
    observations = GroupCommit(persist_observations, OBSERVATIONS_COMMIT_SECONDS)
    run_elsewhere: RemoteRun | None = None
    cluster = shared.cluster
    if cluster is not None:

        async def run_on_cluster(config: FunctionConfig, request: InvocationRequest) -> InvocationResult:
            assert cluster is not None
            return await cluster.run(account_id, region, config, request, logs.append)

        run_elsewhere = run_on_cluster
    invocations = InvocationService(
        pool,
        lambda config: registry.version(config.name, config.version),
        limiter=limiter,
        observer=Observers(LambdaMetrics(recorder), billing, shared.counters, event_recorder),
        write_logs=write_logs,
        remote=run_elsewhere,
    )
    placement = Placement(region, account_id)
    manager = FunctionManager(
        registry,
        shared.blobs,
        shared.code,
        pool,
        shared.runtimes,
        placement,
        lambda role: sts.lambda_may_assume(role, account_id),
        collector=shared.code_collector,
        limits=function_limits,
        gpu_hosts=_gpu_hosts(shared),
    )
    aliases = AliasService(manager, registry)

    def destination_allowed(source: FunctionConfig, destination: str) -> bool:
        principal = sts.role_session_principal(source.role, source.name)
        return (
            principal is not None
            and authorizer.decide(principal, "lambda:InvokeFunction", destination, account_id)
            is Decision.ALLOW
        )

    queue = shared.stores.event_queue(account_id, region, queue_path)
    event_invoke_configs = EventInvokeConfigService(manager, aliases, metadata)
    delivery = AsyncDelivery(
        queue,
        invocations,
        lambda name, qualifier: registry.resolve(name, qualifier, route=True),
        event_invoke_configs.config_for,
        placement.arn,
        region=region,
        account_id=account_id,
        policy=DeliveryPolicy(retry_delays=settings.async_retry_delays),
        may_send=destination_allowed,
        persist=observations.commit,
        send_to_queue=shared.send_to_queue,
    )
    concurrency = FunctionConcurrency(manager, metadata, limiter, settings.min_unreserved_concurrency)
    mappings = build_mappings(
        manager,
        metadata,
        invocations,
        authorizer,
        sts,
        shared.queue_service,
        lambda name: backends.recursion.loop(name),
    )
    backends = LambdaBackends(
        manager=manager,
        aliases=aliases,
        provisioned=ProvisionedConcurrency(manager, aliases, metadata, pool, concurrency),
        concurrency=concurrency,
        permissions=PermissionService(manager, metadata),
        tags=TagService(manager, metadata),
        event_invoke_configs=event_invoke_configs,
        function_urls=FunctionUrlService(
            manager,
            aliases,
            metadata,
            lambda url_id: f"http://{url_id}.lambda-url.{region}.localhost:{settings.port}/",
        ),
        recursion=RecursionConfigService(manager, metadata),
        layers=LayerService(
            metadata,
            shared.code_collector,
            placement,
            other_accounts=lambda other: shared.layers_of(other, region),
            decide=authorizer.decide,
        ),
        invocations=invocations,
        delivery=delivery,
        event_source_mappings=mappings.service,
    )
    aliases.on_change(backends.permissions.forget_function)
    facade = build_lambda_facade(
        shared.protocol,
        backends,
        shared.code_urls,
        LambdaAuthorization(authorizer, backends.permissions, placement, backends.layers).authorize,
        shared.code_from_buckets,
    )
    function_urls = FunctionUrlHandler(
        backends.function_urls,
        manager,
        invocations,
        shared.verifier,
        shared.directory.credential,
        authorizer,
        backends.permissions,
        lambda group, stream, message: logs.append(group, stream, [(int(time.time() * 1000), message)]),
    )
    logs_api = LogsService(logs, region, account_id, lambda: int(shared.clock.now() * 1000))
    taps_changed = shared.taps_changed
    if taps_changed is not None:
        logs_api.on_taps = lambda groups: taps_changed(account_id, region, groups)
    invoker = ServiceInvoker(
        manager, backends.permissions, delivery, authorizer, backends.recursion, invocations
    )
    subscriptions = SubscriptionFilters(logs_api, invoker)
    metrics_service = MetricsService(recorder)
    alarm_store = shared.stores.alarms(account_id, region)
    if shared.feed is not None and shared.stores.database is not None:  # other servers evaluate too
        alarm_store = marking_alarms(alarm_store, shared.feed, account_id, region)

    async def publish_alarm(topic_arn: str, subject: str, message: bytes) -> bool:
        publisher = shared.topic_publisher() if shared.topic_publisher is not None else None
        return publisher is not None and await publisher.publish_for_alarm(
            topic_arn, account_id, subject, message
        )

    alarms = AlarmService(alarm_store, metrics_service, invoker, region, account_id, publish_alarm)
    metric_filters = MetricFilters(logs_api, recorder)
    live_tail = LiveTail(logs_api)
    logs_facade = build_logs_facade(
        shared.logs_protocol, logs_api, subscriptions, metric_filters, live_tail, authorizer
    )
    cloudwatch = build_cloudwatch_facades(
        shared.cloudwatch_protocols,
        {**method_table(metrics_service, METRIC_OPERATIONS), **method_table(alarms, ALARM_OPERATIONS)},
        authorizer,
        region,
        account_id,
    )
    account = AccountRegion(
        account_id,
        region,
        metadata,
        queue,
        logs,
        registry,
        pool,
        backends,
        facade,
        function_urls,
        logs_api,
        subscriptions,
        metric_filters,
        live_tail,
        logs_facade,
        metric_store,
        recorder,
        alarm_store,
        alarms,
        billing_store,
        billing,
        recording_sink,
        event_recorder,
        cloudwatch,
        limiter,
        log_budget,
        invoker=invoker,
        pollers=mappings.pollers,
        follower=link is not None,
        recording_store=recording_store,
    )
    return account


@dataclass(frozen=True, slots=True)
class ExecutionHost:
    """What runs environments on this host: its runtimes, the SDK libraries functions see, the
    sandbox tier and the fork servers over it (`settings` as the tier left them: its uid range)."""

    settings: Settings
    runtimes: dict[str, RuntimeSpec]
    sdk_library: Path | None
    node_sdk_library: Path | None
    tier: ProcessSandbox
    sandbox: ZygoteSandbox


def execution_host(
    settings: Settings, *, worker: bool = False, server_range: str | None = None
) -> ExecutionHost:
    """A server's, a worker's (`worker`) or a cluster node's (lamina/node.py) execution host."""
    data_dir = settings.data_dir
    java = prepare_java_runtime(data_dir / "runtime" / "java", default_cache())
    runtimes = discover_runtimes(settings.runtimes, java)
    if settings.runtime_fallback == "nearest":
        runtimes = with_nearest_fallbacks(runtimes, creatable_runtimes())
    cgroups = CgroupMemoryController.detect() if settings.memory_limits == "auto" else None
    sdk_library = build_sdk_library(data_dir / "runtime" / "python-sdk")
    node_sdk_library = build_node_sdk_library(data_dir / "runtime" / "node-sdk", runtimes)
    tier, settings = _build_sandbox(settings, runtimes, cgroups, worker=worker, server_range=server_range)
    sandbox = ZygoteSandbox(
        tier,
        enabled=settings.start_method == "zygote",
        preload=",".join(filter(None, [DEFAULT_PRELOAD, settings.zygote_preload])),
        sdk_library=sdk_library,
        runtime_dir=BOOTSTRAP.parent,
    )
    return ExecutionHost(settings, runtimes, sdk_library, node_sdk_library, tier, sandbox)


def _ray_cluster(settings: Settings, code_urls: CodeUrlSigner, sts: StsService) -> RayCluster:
    """--cluster: nodes download code through the gateway's signed links and get execution-role
    credentials made here, for the gateway's endpoint (where functions reach Lamina's API)."""
    from lamina.node import NodeAgent  # the node's composition root; it imports this module

    async def credentials(
        account_id: str, region: str, config: FunctionConfig
    ) -> tuple[dict[str, str], float | None]:
        return await sts.environment_variables(config.role, config.name, settings.endpoint_url)

    return RayCluster(
        str(settings.cluster),
        settings,
        NodeAgent,
        code_link=lambda sha: code_urls.url(settings.endpoint_url, sha),
        credentials=credentials,
    )


def build_platform(settings: Settings, worker: WorkerSpec | None = None) -> Platform:
    """The whole server; with `worker`, one worker of a primary's (cluster/follower.py)."""
    if not settings.data_dir.is_absolute():
        # Environments run with their code folder as working directory: every path must be absolute.
        settings = replace(settings, data_dir=settings.data_dir.resolve())
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not is_region(settings.region):
        raise SystemExit(f"lamina: --region {settings.region} is not a region of AWS's (aws partition)")
    settings.record_home_region()
    if worker is None:
        settings.record_metadata_url()
    stores = StoreChoice(settings, serving=worker is None)
    credentials = stores.root_credentials()
    server_range = whole_range(worker.settings if worker is not None else settings)
    whole_uids = settings.sandbox_uids
    if worker is None and settings.workers > 1:
        settings = replace(settings, sandbox_uids=uid_share(settings, 0))
    host = execution_host(settings, worker=worker is not None, server_range=server_range)
    settings, runtimes, tier, sandbox = host.settings, host.runtimes, host.tier, host.sandbox
    sdk_library, node_sdk_library = host.sdk_library, host.node_sdk_library
    blobs = stores.blobs(stores.key("code"))
    code = CodeCache(settings.code_cache_dir, blobs)
    accounts: dict[tuple[str, str], AccountRegion] = {}
    # Blobs and folders are shared by every account: collection marks from all of them.

    async def code_in_use() -> list[CodeUse]:
        if stores.database is not None:  # blobs shared with other servers: every region's uses
            await platform.open_known_regions()
        return await stored_code([(account.registry, account.metadata) for account in accounts.values()])

    code_collector = CodeCollector(
        blobs,
        code,
        stored=code_in_use,
        running=lambda: running_code([account.pool for account in accounts.values()]),
        sweep_folders=lambda: platform.workers is None,
    )
    budget_mb = settings.memory_budget_mb or default_memory_budget_mb(settings.memory_budget_share)
    counts: SharedCounts | None = None
    reclaim: Callable[[int], Awaitable[bool]] | None = None
    if worker is not None:
        counts = SharedCounts(worker.counts_path, worker.workers, worker.index)

        async def reclaim_through_primary(needed_mb: int) -> bool:
            return bool(await link().call("reclaim", mb=needed_mb, worker=worker.index))

        reclaim = reclaim_through_primary
    elif settings.workers > 1:
        counts = SharedCounts(counts_path(data_dir), settings.workers, 0, create=True)

        async def reclaim_from_workers(needed_mb: int) -> bool:
            return await platform.reclaim_memory(needed_mb, asking=0)

        reclaim = reclaim_from_workers
    budget = MemoryBudget(budget_mb, counts, reclaim)
    identity_store = stores.identity(stores.key("credentials"))
    feed: ChangeFeed | None = None
    bus: PostgresChangeBus | None = None
    if (settings.workers > 1 or settings.metadata_url is not None) and worker is None:

        async def publish(scopes: list[Scope]) -> None:
            if platform.workers is not None:
                await platform.workers.broadcast("reload", scopes=[list(scope) for scope in scopes])
            if platform.bus is not None:
                await platform.bus.publish(scopes)

        feed = ChangeFeed(publish)
        identity_store = marking_identity(identity_store, feed)
    if settings.metadata_url is not None and worker is None:
        from lamina.store.postgres.change_bus import PostgresChangeBus

        async def others_changed(scopes: list[list[str]]) -> None:
            await platform.apply_changes(scopes)
            if platform.workers is not None:
                await platform.workers.broadcast("reload", scopes=scopes)

        bus = PostgresChangeBus(settings.metadata_url, others_changed)
    directory = IdentityDirectory(
        identity_store, {settings.account_id: (credentials.access_key_id, credentials.secret_access_key)}
    )
    authorizer = Authorizer(directory)
    sts = StsService(directory)
    verifier = SigV4Verifier(
        lambda key: credential.secret if (credential := directory.credential(key)) else None
    )
    code_urls = CodeUrlSigner(stores.key("code-url"))
    # Runtime names get AWS's own answers (domain/runtimes.py), not a generic enum failure.
    # Runtimes and the ceilings an operator may raise (--max-memory and friends) are the manager's.
    lambda_protocol = create_protocol(
        load_service_model("lambda"),
        {"Runtime": (), "MemorySize": (), "Timeout": (), "EphemeralStorageSize": ()},
    )
    clock: Clock = ManualClock() if settings.fake_clock else SystemClock()
    app: Gateway

    async def send_to_queue(
        source: FunctionConfig, target_arn: str, body: bytes, attributes: Mapping[str, Any] | None
    ) -> bool:
        """A function's record to a queue or a topic (destinations, dead-letter targets), as its role."""
        if target_arn.startswith("arn:aws:sns:"):
            topics = platform.topics
            if topics is None:
                return False
            return await topics.publisher.publish_for_function(
                source.role, source.name, target_arn, body, attributes
            )
        sender = platform.queue_sender
        if sender is None:
            return False
        return await sender.send_for_function(source.role, source.name, target_arn, body, attributes)

    async def layers_of(account_id: str, region: str) -> LayerService | None:
        account = await platform.account_region(account_id, region)
        return account.backends.layers if account is not None else None

    # Environments run as uids of their own when the server is root (execution/sandbox/detect.py);
    # else they share the server's, and the public port cannot tell them from other local clients.
    environment_uids = UidsOtherThan(0) if os.geteuid() == 0 else None

    async def handle(request: LeanRequest) -> LeanResponse:
        """Every port's handler: on a primary with workers, a change is applied by all of them
        before the request that made it is answered."""
        response = await app.handle(request)
        if feed is not None and feed.pending:
            await feed.settle()
        return response

    def link() -> ControlChannel:
        if platform.channel is None:
            raise ChannelClosed("this worker is not linked to its primary")
        return platform.channel

    # Through the router once there are workers (serve, serve_worker): set on the platform then.
    router = s3_router(settings)
    function_port = FunctionApiPort(
        lambda request: platform.port_handler(request),
        settings.http_limits,
        environment_uids,
        streams=upload_streams(router) if worker is None else None,
        moves_early=(lambda request: platform.moves_early(request)) if worker is not None else None,
    )
    # The namespaces tier: Lamina's API listens inside each environment's namespace where its
    # AWS_ENDPOINT_URL points (the function port, bound at startup).
    networks = (
        NetworkNamespaces(
            find_outbound_engine(),
            api_address=lambda: address_of(function_port.url or settings.endpoint_url),
        )
        if tier.name == "namespaces"
        else None
    )
    shared = _Shared(
        settings,
        stores,
        runtimes,
        sandbox,
        sdk_library,
        node_sdk_library,
        blobs,
        code,
        code_collector,
        budget,
        directory,
        authorizer,
        sts,
        code_urls,
        lambda_protocol,
        create_protocol(
            load_service_model("logs"), json_options={"validation_error_code": "InvalidParameterException"}
        ),
        verifier,
        clock,
        (
            QueryProtocol(load_service_model("cloudwatch")),
            JsonRpcProtocol(load_service_model("cloudwatch"), validation_error_code="ValidationError"),
        ),
        PlatformCounters(),
        function_port,
        networks,
        layers_of,
        node_standbys=(
            NodeStandbyPool(
                sandbox, settings.environments_dir, networks=networks, runtime_library=node_sdk_library
            )
            if any(spec.language == "nodejs" for spec in runtimes.values())
            else None
        ),
        feed=feed,
        link=link if worker is not None else None,
        remote_credentials=RemoteCredentials(link, directory) if worker is not None else None,
        counts=counts,
        taps_changed=(lambda *taps: platform.taps_changed(*taps)) if feed is not None else None,
        gather_metrics=(lambda: platform.gather_worker_metrics()) if feed is not None else None,
        cluster=_ray_cluster(settings, code_urls, sts) if settings.cluster else None,
        gpus=GpuAllocator(discover_gpus(enabled=settings.gpus == "auto", nvidia_smi=settings.nvidia_smi)),
        send_to_queue=send_to_queue if worker is None else None,
        queue_service=lambda: platform.queues.service if platform.queues is not None else None,
        topic_publisher=(lambda: platform.topics.publisher if platform.topics is not None else None)
        if worker is None
        else None,
        code_from_buckets=(
            CodeFromBuckets(
                lambda: platform.s3.buckets.service if platform.s3 is not None else None, authorizer
            )
            if worker is None
            else None
        ),
    )
    home = (settings.account_id, settings.home_region)
    accounts[home] = _build_account(shared, *home)

    def facades(pick: Callable[[AccountRegion], ServiceFacade]) -> RegionalFacades:
        async def facade(account_id: str, region: str) -> ServiceFacade | None:
            account = await platform.account_region(account_id, region)
            return pick(account) if account is not None else None

        return facade

    services: dict[str, Service] = {
        "lambda": AccountRouter(
            lambda_protocol,
            facades(lambda account: account.facade),
            lambda_account,
            no_such_account(lambda_protocol),
        ),
        "iam": build_iam_facade(
            create_protocol(load_service_model("iam")), IamService(directory), authorizer
        ),
        "sts": build_sts_facade(create_protocol(load_service_model("sts")), sts),
        "logs": AccountRouter(shared.logs_protocol, facades(lambda account: account.logs_facade)),
        "monitoring": ProtocolSwitch(
            AccountRouter(shared.cloudwatch_protocols[0], facades(lambda account: account.cloudwatch[0])),
            AccountRouter(shared.cloudwatch_protocols[1], facades(lambda account: account.cloudwatch[1])),
        ),
    }
    s3: EmbeddedS3 | None = None
    queues: EmbeddedQueues | None = None
    queue_sender: QueueSender | None = None
    events: EmbeddedEvents | None = None
    topics: EmbeddedTopics | None = None
    mail: EmbeddedMail | None = None
    apis: EmbeddedApis | None = None
    stacks: EmbeddedStacks | None = None
    if worker is None:

        async def invoker_of(account_id: str, region: str) -> ServiceInvoker | None:
            account = await platform.account_region(account_id, region)
            return account.invoker if account is not None else None

        s3 = build_s3(
            settings,
            stores,
            router,
            directory,
            authorizer,
            verifier,
            invoker_of,
            lambda: platform.queue_sender,
            lambda: platform.topics.publisher if platform.topics is not None else None,
        )
        services["s3"] = s3.facade
        sqs = build_sqs(stores, authorizer, sts)
        services["sqs"] = sqs.facade
        queues, queue_sender = sqs.queues, sqs.sender
        events = build_events(
            stores,
            authorizer,
            sts,
            clock,
            invoker_of,
            lambda: platform.queue_sender,
            stores.server_id,
            lambda: platform.topics.publisher if platform.topics is not None else None,
        )
        services["events"] = events.facade
        services["scheduler"] = events.scheduler_facade
        topics = build_topics(
            settings, events.store, authorizer, sts, clock, invoker_of, lambda: platform.queue_sender
        )
        services["sns"] = topics.facade
        events.also_reload(topics.service.load)
        mail = build_mail(
            settings,
            events.store,
            authorizer,
            clock,
            invoker_of,
            lambda: platform.s3.buckets.service if platform.s3 is not None else None,
            lambda: platform.topics.publisher if platform.topics is not None else None,
        )
        services["ses"] = mail.facade
        apis = build_apis(
            events.store,
            authorizer,
            invoker_of,
            verifier,
            directory.credential,
            settings.endpoint_url,
            lambda account_id, region: (
                (found.logs, found.recorder)
                if (found := platform.accounts.get((account_id, region))) is not None
                else None
            ),
        )
        services["apigateway"] = apis.facade
        events.also_reload(apis.load)
        stacks = build_stacks(events.store, authorizer, services)
        services["cloudformation"] = stacks.facade
        services["cloudcontrolapi"] = build_cloud_control_facade(InProcessClient(services), authorizer)
    platform: Platform
    internal = InternalRoutes(
        lambda: platform.health_report(),
        code_urls,
        accounts[home].backends.manager.code_package,  # any account's: the blobs are shared
        clock if isinstance(clock, ManualClock) else None,
        lambda: platform.clock_moved(),
        lambda: platform.prometheus_text(),
        topics.links.handle if topics is not None else None,
    )
    url_router = FunctionUrlRouter(lambda: [account.function_urls for account in accounts.values()])

    async def recordings_of(account_id: str, region: str) -> RecordingStore | None:
        """The console's Replay tab: an account-region's recordings, what every process recorded
        so far written first."""
        account = platform.accounts.get((account_id, region))
        if account is None:
            return None
        await platform.gather_worker_metrics()  # the workers flush their recorders with their metrics
        return await account.recordings()

    async def month_usage(account_id: str, month: str) -> dict[str, tuple[int, int]]:
        """The console's overview: the account's usage this month, in the console's region."""
        account = platform.accounts.get((account_id, settings.region))
        if account is None:
            return {}
        await account.billing.flush()
        store = account.billing_store
        if not isinstance(store, SqliteBillingStore):
            from lamina.store.postgres.billing import PostgresBillingStore  # psycopg: only when used

            if not isinstance(store, PostgresBillingStore):
                return {}
        return {
            function: usage
            for (used_in, function), usage in (await store.usage()).items()
            if used_in == month
        }

    async def account_created(account_id: str) -> None:
        await platform.add_account(account_id)

    admin = AdminRoutes(
        verifier,
        directory.credential,
        AccountService(directory, account_created),
        settings.account_id,
        settings.function_limits,
        settings.http_limits.max_body_bytes,
    )
    app = Gateway(
        services,
        "lambda",
        verifier,
        internal,
        url_router,
        directory.credential,
        admin,
        sigv2=s3.sigv2 if s3 is not None else None,
        api_endpoint=apis.endpoint if apis is not None else None,
        console=Console(
            ConsoleParts(
                InProcessClient(services, validate=False),
                settings.region,
                Renderer(),
                accounts[home].backends.manager.code_package,
                month_usage if worker is None else None,
                events.store if events is not None else None,
                recordings_of,
                lambda account_id: account_function_limits(settings, directory, account_id),
            ),
            directory.credential,
            PasswordSignIn(directory),
        ).handle,
    )
    platform = Platform(
        settings,
        credentials,
        runtimes,
        sandbox,
        app,
        identity_store,
        directory,
        accounts,
        lambda account_id, region: _build_account(shared, account_id, region),
        shared.counters,
        code_collector,
        function_port,
        isolation=tier,
        networks=networks,
        gpus=shared.gpus,
        node_standbys=shared.node_standbys,
        stores=stores,
        feed=feed,
        worker=worker,
        handle=handle,
        counts=counts,
        budget=budget,
        clock=clock,
        cluster=shared.cluster,
        bus=bus,
        s3=s3,
        queues=queues,
        queue_sender=queue_sender,
        events=events,
        topics=topics,
        mail=mail,
        apis=apis,
        stacks=stacks,
    )
    if worker is None and settings.workers > 1 and settings.sandbox_uids_explicit:
        platform.uid_range = f"{whole_uids[0]}-{whole_uids[0] + whole_uids[1] - 1}"
    platform.port_handler = handle

    async def stores_of(
        account_id: str, region: str
    ) -> tuple[MetricStore, BillingStore, RecordingSink] | None:
        account = await platform.account_region(account_id, region)
        if account is None:
            return None
        return account.metric_store, account.billing_store, account.recording_sink

    if feed is not None:
        platform.worker_handlers = primary_handlers(sts, stores_of)

        async def reclaim_for_worker(args: dict[str, Any]) -> bool:
            return await platform.reclaim_memory(int(args["mb"]), asking=int(args["worker"]))

        platform.worker_handlers["reclaim"] = reclaim_for_worker

        async def taps_of(args: dict[str, Any]) -> list[str]:
            account = await platform.account_region(str(args["account"]), str(args["region"]))
            return sorted(account.logs_api.tapped_groups) if account is not None else []

        async def tapped(args: dict[str, Any]) -> None:
            await platform.tapped(str(args["account"]), str(args["region"]), list(args["appended"]))

        platform.worker_handlers["taps_of"] = taps_of
        platform.worker_handlers["tapped"] = tapped
    return platform


def _build_sandbox(
    settings: Settings,
    runtimes: dict[str, RuntimeSpec],
    cgroups: CgroupMemoryController | None,
    *,
    worker: bool = False,
    server_range: str | None = None,
) -> tuple[ProcessSandbox, Settings]:
    """The sandbox tier, and `settings` with the uid range this server claimed for itself."""
    interpreters = sorted({spec.interpreter for spec in runtimes.values() if spec.interpreter is not None})
    data_dir = settings.data_dir
    paths = SandboxPaths(
        data_dir=data_dir,
        shared=(
            settings.code_cache_dir,
            settings.environments_dir,
            data_dir / "runtime",
            data_dir / "runtime" / "python-sdk",
            data_dir / "runtime" / "node-sdk",
            data_dir / "runtime" / "java",
        ),
        private=settings.private_paths,
        root=data_dir / "sandbox" / "root",
        runtime_files=(*map(Path, interpreters), BOOTSTRAP.parent, NODE_BOOTSTRAP.parent),
    )
    uid_claim: UidClaim | None = None
    try:
        if os.geteuid() == 0:  # environments get uids of their own: this server's alone
            owner = {"dataDir": str(data_dir), "endpoint": settings.endpoint_url}
            if server_range is not None:
                owner["serverRange"] = server_range
            requested = UidRange(*settings.sandbox_uids) if settings.sandbox_uids_explicit else None
            uid_claim = claim_uids(requested, owner)
            claimed = uid_claim.claim.range
            settings = replace(settings, sandbox_uids=(claimed.first, claimed.count))
        tier, notes = build_sandbox(
            settings.sandbox,
            paths,
            interpreters,
            memory=cgroups,
            uids=UidRange(*settings.sandbox_uids),
            uid_claim=uid_claim,
            pids_budget=pids_share(settings),
            device_control=settings.gpus == "auto" and has_nvidia_nodes(settings.gpu_device_dir),
        )
    except SandboxUnavailable as error:
        raise SystemExit(f"lamina: {error}") from None
    # Each readable by its live environments only (those of every worker, with --workers).
    tier.close_code_folders(settings.code_cache_dir, shared=settings.workers > 1, worker=worker)
    for note in notes:
        _log.warning("sandbox: %s", note)
    _log.info("sandbox: %s", tier.describe())
    return tier, settings


def _raise_open_file_limit() -> None:
    """Each warm environment holds a few descriptors here (pipes, sockets): a thousand of them pass
    the common soft limit of 1,024. Environments get their own limit of 1,024 (confine.py)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def announce(platform: Platform) -> None:
    settings = platform.settings
    print(f"Lamina {__version__} listening on {settings.endpoint_url}", file=sys.stderr)
    print(f"  data directory: {settings.data_dir.resolve()}", file=sys.stderr)
    print(
        f"  sandbox: {platform.sandbox.name} (memory limits: {platform.sandbox.memory_enforcement}); runtimes: {', '.join(platform.runtimes)}",
        file=sys.stderr,
    )
    if platform.networks is not None and not platform.networks.outbound:
        print(
            "  warning: no outbound network for functions: it needs slirp4netns or pasta (package passt)",
            file=sys.stderr,
        )
    if platform.isolation is not None and (uids := platform.isolation.health()["uidRange"]) is not None:
        print(f"  sandbox uids: {uids} (held by this server alone)", file=sys.stderr)
    print(
        f"  memory budget: {platform.primary.pool.usage().budget_mb} MB; keep-alive: "
        f"{platform.primary.pool.policy.name} ({settings.keep_alive_seconds:g} s)",
        file=sys.stderr,
    )
    if platform.credentials.generated:
        print("  generated root credentials (shown once; `lamina env` prints them again):", file=sys.stderr)
        print(f"    AWS_ACCESS_KEY_ID={platform.credentials.access_key_id}", file=sys.stderr)
        print(f"    AWS_SECRET_ACCESS_KEY={platform.credentials.secret_access_key}", file=sys.stderr)
    sys.stderr.flush()


def pids_share(settings: Settings) -> int | None:
    """Each process's part of --pids-budget with --workers: the server's environments together
    stay within the budget (each worker's cgroup holds an equal share). None: the default."""
    budget = settings.pids_budget
    if settings.workers <= 1:
        return budget
    total = budget if budget is not None else default_pids_budget()
    return max(MIN_PIDS_PER_WORKER, total // settings.workers)


def whole_range(settings: Settings) -> str | None:
    """The --sandbox-uids range split among workers, as claims name it; None when not split."""
    first, count = settings.sandbox_uids
    if not settings.sandbox_uids_explicit or settings.workers <= 1:
        return None
    return f"{first}-{first + count - 1}"


def uid_share(settings: Settings, index: int) -> tuple[int, int]:
    """Process `index`'s uids (0: the primary) when --sandbox-uids gave a range and there are
    workers: the range split evenly, so that the server holds exactly the range it was given."""
    first, count = settings.sandbox_uids
    if not settings.sandbox_uids_explicit or settings.workers <= 1:
        return first, count
    each = count // settings.workers
    if each < MIN_UIDS_PER_WORKER:
        raise SystemExit(
            f"lamina: --sandbox-uids {first}-{first + count - 1} gives {settings.workers} workers "
            f"{each} uids each; give each at least {MIN_UIDS_PER_WORKER} (a larger range or fewer --workers)"
        )
    return first + index * each, each if index < settings.workers - 1 else count - index * each


def sandbox_uids_refusal(first: int, count: int) -> str | None:
    """Why `lamina server --sandbox-uids` may not give environments this range (a user's uid, a
    subordinate range, uids past the last one); None when it may."""
    return refusal(UidRange(first, count), host_reserved_uids())


def serve(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT; every execution environment is stopped before returning. With
    `settings.workers` > 1 this process is the primary and starts the other workers on its port."""
    from lamina.api.http_server import PublicHttpServer, ServerStartError, run_server

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _raise_open_file_limit()
    platform = build_platform(settings)
    assert platform.handle is not None
    tasks: list[asyncio.Task[None]] = []
    inboxes: list[ConnectionInbox] = []

    async def start_workers() -> None:
        if settings.workers <= 1:
            return
        bound = replace(settings, port=server.listener.addresses[0][1])
        assert platform.counts is not None
        group = WorkerGroup(
            bound,
            settings.workers - 1,
            runtime_dir_for(settings.data_dir.resolve()),
            platform.worker_handlers,
            platform.counts,
        )
        platform.workers = group
        assert platform.handle is not None
        platform.port_handler = InvocationRouter(
            platform.handle,
            platform.directory.credential,
            platform,
            index=PRIMARY,
            inbox_of=lambda index: inbox_path(group.runtime_dir, index),
            token=group.token,
        ).handle
        inbox = ConnectionInbox(group.inbox_path, group.token, server.listener.adopt_connection)
        inbox.open()
        inboxes.append(inbox)
        await group.start()
        print(f"  workers: {settings.workers} processes serve the port", file=sys.stderr, flush=True)

    async def stop() -> None:
        for task in tasks:
            task.cancel()
        for inbox in inboxes:
            inbox.close()
        if platform.workers is not None:
            await platform.workers.stop()
        await platform.stop_environments()

    async def handle(request: LeanRequest) -> LeanResponse:
        return await platform.port_handler(request)

    server = PublicHttpServer(
        handle,
        settings.host,
        settings.port,
        limits=settings.http_limits,
        admit=platform.function_port.admit_public if platform.function_port is not None else None,
        sources=platform.function_port.sources if platform.function_port is not None else None,
        on_startup=platform.startup,
        before_shutdown=stop,
        on_shutdown=platform.shutdown,
        on_listening=lambda: announce(platform),
        after_listening=start_workers,
        reuse_port=settings.workers > 1,
        streams=upload_streams(s3_router(settings)),
    )
    try:
        run_server(server)
    except ServerStartError as error:
        raise SystemExit(f"lamina: {error}") from None


async def _settle_forever(feed: ChangeFeed) -> None:
    """Changes no request waits for (a function turning Active) reach the workers this soon."""
    while True:
        await asyncio.sleep(CHANGE_SETTLE_SECONDS)
        try:
            await feed.settle()
        except Exception:
            _log.exception("telling the workers about a change failed")


def serve_worker(spec: WorkerSpec) -> None:
    """One worker of a primary's (`lamina _worker`): until the primary ends."""
    from lamina.api.http_server import PublicHttpServer, ServerStartError, run_server

    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s %(levelname)s [worker {spec.index}] %(name)s: %(message)s"
    )
    _raise_open_file_limit()
    # Its own block of sandbox uids: environments of two workers never share a uid.
    settings = replace(
        spec.settings,
        sandbox_uids=uid_share(spec.settings, spec.index),
        # Given a range, each process takes its share of it; else a free block of its own.
        sandbox_uids_explicit=spec.settings.sandbox_uids_explicit,
    )
    platform = build_platform(settings, worker=spec)
    assert platform.handle is not None
    router = InvocationRouter(
        platform.handle,
        platform.directory.credential,
        platform,
        index=spec.index,
        inbox_of=lambda index: inbox_path(spec.runtime_dir, index),
        token=spec.token,
    )
    platform.port_handler = router.handle
    uploads = upload_streams(s3_router(settings))

    def moves_early(request: LeanRequest) -> HandOff | None:
        return router.moves_early(request) if uploads(request) else None

    platform.moves_early = moves_early
    inbox = ConnectionInbox(
        inbox_path(spec.runtime_dir, spec.index),
        spec.token,
        lambda *moved: server.listener.adopt_connection(*moved),
    )

    async def link() -> None:
        async def reload(args: dict[str, Any]) -> None:
            await platform.apply_changes(list(args["scopes"]))

        async def pool(args: dict[str, Any]) -> dict[str, Any]:
            return platform.pool_figures()

        async def prometheus(args: dict[str, Any]) -> dict[str, Any]:
            return platform.prometheus_record()

        async def evict(args: dict[str, Any]) -> int:
            assert platform.budget is not None
            return await platform.budget.evict_idle(int(args["mb"]))

        async def taps(args: dict[str, Any]) -> None:
            account = platform.accounts.get((str(args["account"]), str(args["region"])))
            if account is not None:
                account.logs.tap(frozenset(args["groups"]))

        async def flush_metrics(args: dict[str, Any]) -> None:
            await platform.flush_metrics()

        async def clock(args: dict[str, Any]) -> None:
            if isinstance(platform.clock, ManualClock):
                platform.clock.move_to(float(args["now"]))
            await platform.flush_metrics()

        async def ping(args: dict[str, Any]) -> None:
            return None

        handlers = {
            "ping": ping,
            "reload": reload,
            "pool": pool,
            "prometheus": prometheus,
            "evict": evict,
            "taps": taps,
            "flush_metrics": flush_metrics,
            "clock": clock,
        }
        channel = await connect(spec, handlers)
        platform.channel = channel
        serving = asyncio.get_running_loop().create_task(channel.serve())
        # The primary gone: stop as on SIGTERM (environments first).
        serving.add_done_callback(lambda _: server.stop())

    async def startup() -> None:
        await link()
        await platform.startup()

    async def ready() -> None:
        assert platform.channel is not None
        inbox.open()
        await platform.channel.call("ready", index=spec.index)

    async def stop() -> None:
        inbox.close()
        await platform.stop_environments()

    server = PublicHttpServer(
        platform.port_handler,
        settings.host,
        settings.port,
        limits=settings.http_limits,
        admit=platform.function_port.admit_public if platform.function_port is not None else None,
        sources=platform.function_port.sources if platform.function_port is not None else None,
        on_startup=startup,
        before_shutdown=stop,
        on_shutdown=platform.shutdown,
        after_listening=ready,
        reuse_port=True,
        moves_early=moves_early,
    )
    try:
        run_server(server)
    except ServerStartError as error:
        raise SystemExit(f"lamina worker {spec.index}: {error}") from None


def write_java_interfaces(output: Path) -> bool:
    """`lamina java-interfaces`: Lamina's copy of aws-lambda-java-core written to `output`, built as
    a server builds it; False when this host cannot build it (no JDK or no Jackson)."""
    with tempfile.TemporaryDirectory() as scratch:
        runtime = prepare_java_runtime(Path(scratch), default_cache())
        if runtime is None:
            return False
        shutil.copyfile(runtime.core_jar, output)
    return True
