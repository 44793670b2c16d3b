"""Composition of the embedded S3 (part of the composition root, kept apart from `server.py`):
its stores, service and notifier, its API facade, the SigV2 check for presigned URLs, and the
edge's choice of which uploads stream."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from lamina.api.gateway import SigV2Check
from lamina.api.services.s3.edge import s3_upload_streams
from lamina.api.services.s3.facade import S3Facade
from lamina.config import Settings
from lamina.identity.authorizer import Authorizer
from lamina.identity.directory import IdentityDirectory
from lamina.protocol.model import load_service_model
from lamina.protocol.rest_xml import RestXmlProtocol
from lamina.protocol.s3_routing import S3Router
from lamina.protocol.sigv2 import SigV2Request, SigV2Verifier
from lamina.protocol.sigv4 import CredentialScope, SigV4Verifier
from lamina.sources.buckets.embedded import EmbeddedBuckets
from lamina.sources.buckets.notifier import BucketNotifier
from lamina.sources.queues.sender import QueueSender
from lamina.sources.topics.publisher import TopicPublisher
from lamina.store.objects.directory import CompositeBucketStore, CompositeObjectData, DirectoryObjects
from lamina.store_choice import StoreChoice
from lamina.transport.http11 import StreamsBody
from lamina.transport.messages import LeanRequest
from lamina.triggers.service_invoker import InvokerOf

__all__ = ["EmbeddedS3", "build_s3", "s3_router"]


def host_names(settings: Settings) -> list[str]:
    """Names the server answers to, under which `bucket.<name>` is a virtual-hosted bucket."""
    names = ["localhost"]
    for host in (settings.host, urlsplit(settings.endpoint_url).hostname or ""):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if host and host not in names:
                names.append(host)
    return names


def s3_router(settings: Settings) -> S3Router:
    return S3Router(load_service_model("s3"), host_names(settings))


def upload_streams(router: S3Router) -> StreamsBody:
    return s3_upload_streams(router)


@dataclass(frozen=True, slots=True)
class EmbeddedS3:
    buckets: EmbeddedBuckets
    facade: S3Facade
    sigv2: SigV2Check


def build_s3(
    settings: Settings,
    stores: StoreChoice,
    router: S3Router,
    directory: IdentityDirectory,
    authorizer: Authorizer,
    verifier: SigV4Verifier,
    invoker_of: InvokerOf,
    queues: Callable[[], QueueSender | None],
    topics: Callable[[], TopicPublisher | None] = lambda: None,
) -> EmbeddedS3:
    bucket_store, object_data = stores.buckets()
    directories = {
        name: DirectoryObjects(name, path, object_data) for name, path in settings.directory_buckets
    }
    if directories:
        bucket_store = CompositeBucketStore(bucket_store, directories)
        object_data = CompositeObjectData(object_data, directories)
    buckets = EmbeddedBuckets(
        bucket_store,
        object_data,
        BucketNotifier(invoker_of, queues, topics),
        list(directories.values()),
        (settings.account_id, settings.home_region),
    )
    facade = S3Facade(
        RestXmlProtocol(load_service_model("s3"), router), buckets.service, authorizer, verifier
    )
    sigv2 = SigV2Verifier(
        lambda key: credential.secret if (credential := directory.credential(key)) else None
    )

    def check_sigv2(lean: LeanRequest) -> CredentialScope:
        bucket = router.bucket_of_host(lean.headers.get("host", ""))
        key = sigv2.verify(SigV2Request(lean.method, lean.path, lean.query_string, lean.headers, bucket))
        return CredentialScope(key, "", settings.home_region, "s3")

    return EmbeddedS3(buckets, facade, check_sigv2)
