"""The event templates of the Test tab: what the Lambda console offers to start a test event
from, as the services send them (values are examples)."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

__all__ = ["TEMPLATES", "template_text"]


def _logs_data() -> str:
    data = {
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": "/aws/lambda/example",
        "logStream": "2026/12/05/[$LATEST]example",
        "subscriptionFilters": ["example"],
        "logEvents": [{"id": "1", "timestamp": 1764921600000, "message": "ERROR something happened"}],
    }
    return base64.b64encode(gzip.compress(json.dumps(data).encode(), mtime=0)).decode()


TEMPLATES: dict[str, Any] = {
    "Hello World": {"key1": "value1", "key2": "value2", "key3": "value3"},
    "S3 Put": {
        "Records": [
            {
                "eventVersion": "2.0",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "1970-01-01T00:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": "example-bucket", "arn": "arn:aws:s3:::example-bucket"},
                    "object": {"key": "test/key", "size": 1024, "eTag": "0123456789abcdef0123456789abcdef"},
                },
            }
        ]
    },
    "SNS": {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "Sns": {
                    "Type": "Notification",
                    "TopicArn": "arn:aws:sns:us-east-1:123456789012:example-topic",
                    "Subject": "example subject",
                    "Message": "example message",
                    "Timestamp": "1970-01-01T00:00:00.000Z",
                    "MessageAttributes": {},
                },
            }
        ]
    },
    "SQS": {
        "Records": [
            {
                "messageId": "19dd0b57-b21e-4ac1-bd88-01bbb068cb78",
                "receiptHandle": "MessageReceiptHandle",
                "body": "Hello from SQS!",
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1523232000000"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:MyQueue",
                "awsRegion": "us-east-1",
            }
        ]
    },
    "API Gateway proxy": {
        "resource": "/{proxy+}",
        "path": "/path/to/resource",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "queryStringParameters": {"foo": "bar"},
        "pathParameters": {"proxy": "path/to/resource"},
        "requestContext": {"stage": "prod", "httpMethod": "POST", "resourcePath": "/{proxy+}"},
        "body": '{"test": "body"}',
        "isBase64Encoded": False,
    },
    "Scheduled Event": {
        "version": "0",
        "id": "cdc73f9d-aea9-11e3-9d5a-835b769c0d9c",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "1970-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/ExampleRule"],
        "detail": {},
    },
    "CloudWatch Logs": {"awslogs": {"data": _logs_data()}},
}


def template_text(name: str) -> str:
    return json.dumps(TEMPLATES.get(name, TEMPLATES["Hello World"]), indent=2)
