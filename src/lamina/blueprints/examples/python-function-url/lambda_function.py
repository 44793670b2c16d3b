"""Behind a function URL: GET <url>?name=Ada answers {"code": 0, "data": "Hello, Ada"}."""

import json


def lambda_handler(event, context):
    name = (event.get("queryStringParameters") or {}).get("name", "World")
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"code": 0, "data": "Hello, " + name}),
    }
