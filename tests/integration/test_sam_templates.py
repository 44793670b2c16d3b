"""SAM templates (Transform: AWS::Serverless-2016-10-31) against a real server, through boto3:
AWS's own translator expands them; every event type's resources are made and deliver; the change
set path `sam deploy` takes, GetTemplate's stages, and the errors a faulty SAM template gets."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.api_calls import call_api
from tests.support.lambda_calls import printed_events
from tests.support.server import RunningServer

WAITER = {"Delay": 1, "MaxAttempts": 120}

SAM_TEMPLATE = """
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  Greeting: {Type: String, Default: hello}
Globals:
  Function:
    Runtime: python3.12
    Timeout: 10
    Environment:
      Variables: {GREETING: !Ref Greeting}
Resources:
  Uploads:
    Type: AWS::S3::Bucket
  Jobs:
    Type: AWS::SQS::Queue
  Alerts:
    Type: AWS::SNS::Topic
  AppLogs:
    Type: AWS::Logs::LogGroup
  Shared:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: {Bucket: LAYER_BUCKET, Key: layer.zip}
      CompatibleRuntimes: [python3.12]
  Handler:
    Type: AWS::Serverless::Function
    Properties:
      Handler: index.handler
      Layers: [!Ref Shared]
      InlineCode: |
        import json, os
        import shared_words
        def handler(event, context):
            print("SAM-EVENT " + json.dumps(event))
            return {"statusCode": 200,
                    "body": json.dumps({"greeting": os.environ["GREETING"], "word": shared_words.WORD,
                                        "path": event.get("rawPath") or event.get("path")})}
      Policies:
        - S3ReadPolicy: {BucketName: reports}  # a bucket of its own: !Ref Uploads would be a cycle, as on AWS
        - AWSLambdaBasicExecutionRole
      Events:
        Rest: {Type: Api, Properties: {Path: "/hello/{name}", Method: get}}
        Http: {Type: HttpApi, Properties: {Path: /hi, Method: get}}
        Upload: {Type: S3, Properties: {Bucket: !Ref Uploads, Events: 's3:ObjectCreated:*'}}
        Job: {Type: SQS, Properties: {Queue: !GetAtt Jobs.Arn, BatchSize: 1}}
        Alert: {Type: SNS, Properties: {Topic: !Ref Alerts}}
        Nightly: {Type: Schedule, Properties: {Schedule: 'cron(0 3 * * ? *)'}}
        Weekly: {Type: ScheduleV2, Properties: {ScheduleExpression: 'rate(7 days)'}}
        Orders: {Type: EventBridgeRule, Properties: {Pattern: {source: [sam.test]}}}
        Logged: {Type: CloudWatchLogs, Properties: {LogGroupName: !Ref AppLogs, FilterPattern: ERROR}}
Outputs:
  RestUrl:
    Value: !Sub "https://${ServerlessRestApi}.execute-api.${AWS::Region}.amazonaws.com/Prod/hello/"
  HttpApiId: {Value: !Ref ServerlessHttpApi}
  FunctionName: {Value: !Ref Handler}
"""


@pytest.fixture(scope="module")
def cloudformation(server: RunningServer) -> Any:
    return server.client("cloudformation")


def _layer_bucket(server: RunningServer) -> str:
    from tests.support.packaging import make_zip

    bucket = f"layers-{uuid.uuid4().hex[:8]}"
    s3 = server.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(
        Bucket=bucket, Key="layer.zip", Body=make_zip({"python/shared_words.py": "WORD = 'layered'\n"})
    )
    return bucket


def _deploy_by_change_set(cloudformation: Any, name: str, body: str) -> dict[str, Any]:
    """What `sam deploy` does: a CREATE change set, waited for, described, executed."""
    change_set = cloudformation.create_change_set(
        StackName=name,
        ChangeSetName="samcli-deploy1",
        ChangeSetType="CREATE",
        TemplateBody=body,
        Capabilities=["CAPABILITY_IAM"],
    )
    cloudformation.get_waiter("change_set_create_complete").wait(
        ChangeSetName=change_set["Id"], WaiterConfig=WAITER
    )
    described = cloudformation.describe_change_set(ChangeSetName=change_set["Id"])
    cloudformation.execute_change_set(ChangeSetName=change_set["Id"])
    cloudformation.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=WAITER)
    return dict(described)


def _deleted(cloudformation: Any, name: str) -> None:
    try:
        cloudformation.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=WAITER)
    except Exception:
        events = cloudformation.describe_stack_events(StackName=name)["StackEvents"]
        failed = [
            (e["LogicalResourceId"], e.get("ResourceStatusReason"))
            for e in events
            if "FAILED" in e["ResourceStatus"]
        ]
        raise AssertionError(f"the stack was not deleted: {failed}") from None


def test_every_event_type_is_expanded_made_and_delivers(server: RunningServer, cloudformation: Any) -> None:
    name = f"sam-{uuid.uuid4().hex[:8]}"
    body = SAM_TEMPLATE.replace("LAYER_BUCKET", _layer_bucket(server))
    described = _deploy_by_change_set(cloudformation, name, body)
    planned = {
        change["ResourceChange"]["LogicalResourceId"]: change["ResourceChange"]["ResourceType"]
        for change in described["Changes"]
    }
    assert planned["Handler"] == "AWS::Lambda::Function"
    assert planned["HandlerRole"] == "AWS::IAM::Role"
    assert planned["ServerlessRestApi"] == "AWS::ApiGateway::RestApi"
    assert planned["ServerlessHttpApi"] == "AWS::ApiGatewayV2::Api"
    assert planned["HandlerJob"] == "AWS::Lambda::EventSourceMapping"
    assert planned["HandlerWeekly"] == "AWS::Scheduler::Schedule"
    assert planned["HandlerLogged"] == "AWS::Logs::SubscriptionFilter"

    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack["Outputs"]}
    function = outputs["FunctionName"]
    resources = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cloudformation.describe_stack_resources(StackName=name)["StackResources"]
    }

    # The APIs SAM made answer, through the function, with the Globals' environment and the layer.
    rest_id = outputs["RestUrl"].split("//", 1)[1].split(".", 1)[0]
    status, _, answer = call_api(server, rest_id, "/Prod/hello/world")
    assert status == 200
    assert json.loads(answer) == {"greeting": "hello", "word": "layered", "path": "/hello/world"}
    status, _, answer = call_api(server, outputs["HttpApiId"], "/hi")
    assert status == 200 and json.loads(answer)["path"] == "/hi"

    # The triggers deliver.
    server.client("s3").put_object(Bucket=resources["Uploads"], Key="in.txt", Body=b"x")
    server.client("sqs").send_message(QueueUrl=resources["Jobs"], MessageBody="job")
    server.client("sns").publish(TopicArn=resources["Alerts"], Message="alert")
    server.client("events").put_events(
        Entries=[{"Source": "sam.test", "DetailType": "order", "Detail": json.dumps({"id": 1})}]
    )
    # Until every kind has arrived (a count could be reached by the schedule firing again first).
    wanted = {"aws:s3", "aws:sqs", "aws:sns", "events"}
    kinds: set[str] = set()
    logs = server.client("logs")
    deadline = time.monotonic() + 60
    while not wanted <= kinds and time.monotonic() < deadline:
        for event in printed_events(logs, function, "SAM-EVENT", 6, timeout=2):
            if "Records" in event:
                record = event["Records"][0]
                kinds.add(record.get("eventSource") or record.get("EventSource"))
            elif event.get("source") == "sam.test":
                kinds.add("events")
    assert wanted <= kinds

    # The schedules and the log subscription exist as SAM described them.
    events = server.client("events")
    assert events.describe_rule(Name=resources["HandlerNightly"])["ScheduleExpression"] == "cron(0 3 * * ? *)"
    schedule = server.client("scheduler").get_schedule(Name=resources["HandlerWeekly"])
    assert schedule["ScheduleExpression"] == "rate(7 days)"
    assert schedule["Target"]["Arn"].endswith(f":function:{function}")
    filters = server.client("logs").describe_subscription_filters(logGroupName=resources["AppLogs"])
    assert [f["filterPattern"] for f in filters["subscriptionFilters"]] == ["ERROR"]

    summary = cloudformation.get_template_summary(StackName=name)
    assert summary["DeclaredTransforms"] == ["AWS::Serverless-2016-10-31"]
    # GetTemplate: the SAM template as sent, and as processed.
    original = cloudformation.get_template(StackName=name)["TemplateBody"]
    assert "AWS::Serverless::Function" in original
    processed = cloudformation.get_template(StackName=name, TemplateStage="Processed")["TemplateBody"]
    processed_types = {r["Type"] for r in processed["Resources"].values()}
    assert "AWS::Serverless::Function" not in processed_types and "AWS::Lambda::Function" in processed_types

    server.client("s3").delete_object(
        Bucket=resources["Uploads"], Key="in.txt"
    )  # as on AWS: buckets go empty
    cloudformation.delete_stack(StackName=name)
    _deleted(cloudformation, name)
    with pytest.raises(ClientError):
        server.client("lambda").get_function(FunctionName=function)


def test_an_update_changes_the_api_and_redeploys_it(server: RunningServer, cloudformation: Any) -> None:
    template = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      InlineCode: |
        def handler(event, context):
            return {"statusCode": 200, "body": event["path"]}
      Events:
        One: {Type: Api, Properties: {Path: PATH, Method: get}}
Outputs:
  Api: {Value: !Ref ServerlessRestApi}
"""
    name = f"sam-{uuid.uuid4().hex[:8]}"
    cloudformation.create_stack(
        StackName=name,
        TemplateBody=template.replace("PATH", "/first"),
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    cloudformation.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=WAITER)
    api = cloudformation.describe_stacks(StackName=name)["Stacks"][0]["Outputs"][0]["OutputValue"]
    assert call_api(server, api, "/Prod/first")[0] == 200
    cloudformation.update_stack(
        StackName=name,
        TemplateBody=template.replace("PATH", "/second"),
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    cloudformation.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=WAITER)
    assert cloudformation.describe_stacks(StackName=name)["Stacks"][0]["Outputs"][0]["OutputValue"] == api
    assert call_api(server, api, "/Prod/second")[0] == 200
    assert call_api(server, api, "/Prod/first")[0] == 403  # API Gateway's answer to no such route
    cloudformation.delete_stack(StackName=name)
    _deleted(cloudformation, name)


def _error(call: Any, **params: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as raised:
        call(**params)
    return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]


def test_faulty_sam_templates_get_cloudformations_answers(cloudformation: Any) -> None:
    minimal = (
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n"
    )
    valid = minimal + "    Properties: {Runtime: python3.12, Handler: a.b, InlineCode: 'x = 1'}\n"
    # CreateStack runs a transform only with CAPABILITY_AUTO_EXPAND.
    assert _error(
        cloudformation.create_stack,
        StackName=f"s-{uuid.uuid4().hex[:6]}",
        TemplateBody=valid,
        Capabilities=["CAPABILITY_IAM"],
    ) == ("InsufficientCapabilitiesException", "Requires capabilities : [CAPABILITY_AUTO_EXPAND]")
    code, message = _error(
        cloudformation.create_stack,
        StackName=f"s-{uuid.uuid4().hex[:6]}",
        TemplateBody=valid.replace("AWS::Serverless-2016-10-31", "AWS::Include"),
        Capabilities=["CAPABILITY_AUTO_EXPAND"],
    )
    assert code == "ValidationError" and "AWS::Include" in message
    # The expansion's IAM role needs CAPABILITY_IAM like any other.
    assert _error(
        cloudformation.create_stack,
        StackName=f"s-{uuid.uuid4().hex[:6]}",
        TemplateBody=valid,
        Capabilities=["CAPABILITY_AUTO_EXPAND"],
    ) == ("InsufficientCapabilitiesException", "Requires capabilities : [CAPABILITY_IAM]")
    # A SAM fault: CreateStack says it at once; a change set fails with it as its reason.
    broken = (
        minimal + "    Properties: {Runtime: python3.12, InlineCode: 'x = 1', Events: {E: {Type: Nope}}}\n"
    )
    code, message = _error(
        cloudformation.create_stack,
        StackName=f"s-{uuid.uuid4().hex[:6]}",
        TemplateBody=broken,
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    assert code == "ValidationError"
    assert message.startswith(
        "Transform AWS::Serverless-2016-10-31 failed with: Invalid Serverless Application Specification document."
    )
    name = f"s-{uuid.uuid4().hex[:6]}"
    change_set = cloudformation.create_change_set(
        StackName=name,
        ChangeSetName="c1",
        ChangeSetType="CREATE",
        TemplateBody=broken,
        Capabilities=["CAPABILITY_IAM"],
    )
    deadline = time.monotonic() + 30
    while (described := cloudformation.describe_change_set(ChangeSetName=change_set["Id"]))[
        "Status"
    ] != "FAILED":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert described["StatusReason"].startswith("Transform AWS::Serverless-2016-10-31 failed with:")
    assert described["ExecutionStatus"] == "UNAVAILABLE"
    sent = cloudformation.get_template(ChangeSetName=change_set["Id"])["TemplateBody"]
    assert "Type: Nope" in (sent if isinstance(sent, str) else json.dumps(sent))
    cloudformation.delete_stack(StackName=name)
    # A template nested deeper than any real one is refused at once (a parser recursed per level).
    started = time.monotonic()
    deep = "Resources:\n  Q: {Type: AWS::SQS::Queue}\nMetadata: " + "[" * 25000 + "]" * 25000
    code, message = _error(cloudformation.validate_template, TemplateBody=deep)
    assert (code, "nests more than 100 levels" in message) == ("ValidationError", True)
    assert time.monotonic() - started < 10
    # SimpleTable expands to a DynamoDB table, which Lamina does not serve: the stack fails naming it.
    table = "Transform: AWS::Serverless-2016-10-31\nResources:\n  Table:\n    Type: AWS::Serverless::SimpleTable\n"
    name = f"s-{uuid.uuid4().hex[:6]}"
    cloudformation.create_stack(StackName=name, TemplateBody=table, Capabilities=["CAPABILITY_AUTO_EXPAND"])
    deadline = time.monotonic() + 60
    while (status := cloudformation.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]).endswith(
        "_IN_PROGRESS"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert status == "ROLLBACK_COMPLETE"
    reasons = [
        event.get("ResourceStatusReason", "")
        for event in cloudformation.describe_stack_events(StackName=name)["StackEvents"]
        if event["ResourceStatus"] == "CREATE_FAILED"
    ]
    assert any("AWS::DynamoDB::Table" in reason for reason in reasons)


ACCESS_TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
    Handler: index.handler
Resources:
  KeyedApi:
    Type: AWS::Serverless::Api
    Properties:
      StageName: live
      Auth:
        ApiKeyRequired: true
        UsagePlan:
          CreateUsagePlan: PER_API
          Throttle: {BurstLimit: 10, RateLimit: 5}
  Guard:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: |
        def handler(event, context):
            return {"isAuthorized": event["headers"].get("authorization") == "open-sesame"}
  GuardPermission:
    Type: AWS::Lambda::Permission
    Properties:
      FunctionName: !Ref Guard
      Action: lambda:InvokeFunction
      Principal: apigateway.amazonaws.com
  Guarded:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Lam
        Authorizers:
          Lam:
            FunctionArn: !GetAtt Guard.Arn
            AuthorizerPayloadFormatVersion: "2.0"
            EnableSimpleResponses: true
            Identity: {Headers: [Authorization]}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: |
        def handler(event, context):
            return {"statusCode": 200, "body": "inside"}
      Events:
        Keyed: {Type: Api, Properties: {RestApiId: !Ref KeyedApi, Path: /p, Method: get}}
        Http: {Type: HttpApi, Properties: {ApiId: !Ref Guarded, Path: /h, Method: get}}
Outputs:
  Rest: {Value: !Ref KeyedApi}
  Http: {Value: !Ref Guarded}
  Key: {Value: !Ref KeyedApiApiKey}
"""


def test_api_keys_usage_plans_and_authorizers_from_sam(server: RunningServer, cloudformation: Any) -> None:
    name = f"sam-{uuid.uuid4().hex[:8]}"
    cloudformation.create_stack(
        StackName=name,
        TemplateBody=ACCESS_TEMPLATE,
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    try:
        cloudformation.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=WAITER)
    except Exception:
        _deleted(cloudformation, name)  # says why
        raise
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in cloudformation.describe_stacks(StackName=name)["Stacks"][0]["Outputs"]
    }
    apigateway = server.client("apigateway")
    key = apigateway.get_api_key(apiKey=outputs["Key"], includeValue=True)
    plans = apigateway.get_usage_plans(keyId=outputs["Key"])["items"]
    assert [plan["throttle"] for plan in plans] == [{"burstLimit": 10, "rateLimit": 5.0}]
    assert plans[0]["apiStages"] == [{"apiId": outputs["Rest"], "stage": "live"}]
    assert call_api(server, outputs["Rest"], "/live/p")[0] == 403
    status, _, body = call_api(server, outputs["Rest"], "/live/p", headers={"x-api-key": key["value"]})
    assert (status, body) == (200, b"inside")
    assert call_api(server, outputs["Http"], "/h")[0] == 401
    assert call_api(server, outputs["Http"], "/h", headers={"Authorization": "wrong"})[0] == 403
    status, _, body = call_api(server, outputs["Http"], "/h", headers={"Authorization": "open-sesame"})
    assert (status, body) == (200, b"inside")
    cloudformation.delete_stack(StackName=name)
    _deleted(cloudformation, name)
    with pytest.raises(ClientError):
        apigateway.get_api_key(apiKey=outputs["Key"])


EXPLICIT_AUTHORIZERS = """
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement: [{Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}]
  Guard:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Role: !GetAtt Role.Arn
      Code:
        ZipFile: |
          def handler(event, context):
              return {"isAuthorized": True}
  Rest:
    Type: AWS::ApiGateway::RestApi
    Properties: {Name: explicit}
  RestGuard:
    Type: AWS::ApiGateway::Authorizer
    Properties:
      RestApiId: !Ref Rest
      Name: tokens
      Type: TOKEN
      IdentitySource: method.request.header.Authorization
      AuthorizerUri: !Sub "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Guard.Arn}/invocations"
      AuthorizerResultTtlInSeconds: TTL
  Http:
    Type: AWS::ApiGatewayV2::Api
    Properties: {Name: explicit-http, ProtocolType: HTTP}
  HttpGuard:
    Type: AWS::ApiGatewayV2::Authorizer
    Properties:
      ApiId: !Ref Http
      Name: jwt
      AuthorizerType: JWT
      IdentitySource: [$request.header.Authorization]
      JwtConfiguration: {Issuer: "https://issuer.example.com", Audience: [app]}
Outputs:
  Rest: {Value: !Ref Rest}
  RestGuard: {Value: !Ref RestGuard}
  Http: {Value: !Ref Http}
  HttpGuard: {Value: !Ref HttpGuard}
"""


def test_explicit_authorizers_are_made_updated_and_deleted(
    server: RunningServer, cloudformation: Any
) -> None:
    name = f"auth-{uuid.uuid4().hex[:8]}"
    cloudformation.create_stack(
        StackName=name,
        TemplateBody=EXPLICIT_AUTHORIZERS.replace("TTL", "300"),
        Capabilities=["CAPABILITY_IAM"],
    )
    cloudformation.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=WAITER)
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in cloudformation.describe_stacks(StackName=name)["Stacks"][0]["Outputs"]
    }
    apigateway = server.client("apigateway")
    rest_guard = apigateway.get_authorizer(restApiId=outputs["Rest"], authorizerId=outputs["RestGuard"])
    assert (rest_guard["type"], rest_guard["authorizerResultTtlInSeconds"]) == ("TOKEN", 300)
    http_guard = server.client("apigatewayv2").get_authorizer(
        ApiId=outputs["Http"], AuthorizerId=outputs["HttpGuard"]
    )
    assert http_guard["JwtConfiguration"]["Issuer"] == "https://issuer.example.com"
    cloudformation.update_stack(
        StackName=name,
        TemplateBody=EXPLICIT_AUTHORIZERS.replace("TTL", "60"),
        Capabilities=["CAPABILITY_IAM"],
    )
    cloudformation.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=WAITER)
    updated = apigateway.get_authorizer(restApiId=outputs["Rest"], authorizerId=outputs["RestGuard"])
    assert updated["authorizerResultTtlInSeconds"] == 60  # in place: the same authorizer
    cloudformation.delete_stack(StackName=name)
    _deleted(cloudformation, name)
    with pytest.raises(ClientError):
        apigateway.get_rest_api(restApiId=outputs["Rest"])
