"""The resource types Lamina's CloudFormation creates, by type name."""

from __future__ import annotations

from lamina.deploy.providers.api_access import (
    ApiKeyProvider,
    HttpAuthorizerProvider,
    RestAuthorizerProvider,
    UsagePlanKeyProvider,
    UsagePlanProvider,
)
from lamina.deploy.providers.apis import (
    DeploymentProvider,
    HttpApiProvider,
    HttpIntegrationProvider,
    HttpRouteProvider,
    HttpStageProvider,
    MethodProvider,
    RestApiProvider,
    RestResourceProvider,
    RestStageProvider,
)
from lamina.deploy.providers.base import ResourceProvider
from lamina.deploy.providers.cdk import CdkMetadataProvider
from lamina.deploy.providers.iam import ManagedPolicyProvider, PolicyProvider, RoleProvider
from lamina.deploy.providers.lambda_ import (
    AliasProvider,
    FunctionProvider,
    LayerVersionProvider,
    PermissionProvider,
    VersionProvider,
)
from lamina.deploy.providers.logs import LogGroupProvider
from lamina.deploy.providers.messaging import QueueProvider, TopicProvider
from lamina.deploy.providers.observability import AlarmProvider, MetricFilterProvider
from lamina.deploy.providers.storage import BucketPolicyProvider, BucketProvider
from lamina.deploy.providers.triggers import (
    EventInvokeConfigProvider,
    EventSourceMappingProvider,
    FunctionUrlProvider,
    RuleProvider,
    ScheduleProvider,
    SubscriptionFilterProvider,
    SubscriptionProvider,
)

__all__ = ["PROVIDERS", "provider_for"]

PROVIDERS: dict[str, ResourceProvider] = {
    provider.type_name: provider
    for provider in (
        RoleProvider(),
        FunctionProvider(),
        PermissionProvider(),
        VersionProvider(),
        AliasProvider(),
        LogGroupProvider(),
        QueueProvider(),
        TopicProvider(),
        EventSourceMappingProvider(),
        FunctionUrlProvider(),
        EventInvokeConfigProvider(),
        SubscriptionProvider(),
        RuleProvider(),
        ScheduleProvider(),
        SubscriptionFilterProvider(),
        PolicyProvider(),
        ManagedPolicyProvider(),
        MetricFilterProvider(),
        AlarmProvider(),
        BucketProvider(),
        BucketPolicyProvider(),
        LayerVersionProvider(),
        RestApiProvider(),
        RestResourceProvider(),
        MethodProvider(),
        DeploymentProvider(),
        RestStageProvider(),
        HttpApiProvider(),
        HttpIntegrationProvider(),
        HttpRouteProvider(),
        HttpStageProvider(),
        RestAuthorizerProvider(),
        ApiKeyProvider(),
        UsagePlanProvider(),
        UsagePlanKeyProvider(),
        HttpAuthorizerProvider(),
        CdkMetadataProvider(),
    )
}


def provider_for(type_name: str) -> ResourceProvider | None:
    return PROVIDERS.get(type_name)
