"""A small REST microservice behind API Gateway (Lambda proxy integration): items are JSON
documents in a bucket, one object per item."""

import json
import os
import uuid

import boto3

s3 = boto3.client("s3")
BUCKET = os.environ["ITEMS_BUCKET"]


def respond(status, body):
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }


def key_of(item_id):
    return f"items/{item_id}.json"


def get_item(item_id):
    try:
        stored = s3.get_object(Bucket=BUCKET, Key=key_of(item_id))
    except s3.exceptions.NoSuchKey:
        return respond(404, {"message": f"no item {item_id}"})
    return respond(200, json.loads(stored["Body"].read()))


def put_item(item_id, body, status):
    try:
        item = json.loads(body or "{}")
    except ValueError:
        return respond(400, {"message": "the body must be a JSON object"})
    if not isinstance(item, dict):
        return respond(400, {"message": "the body must be a JSON object"})
    item["id"] = item_id
    s3.put_object(Bucket=BUCKET, Key=key_of(item_id), Body=json.dumps(item).encode())
    return respond(status, item)


def list_items():
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="items/")
    items = [
        json.loads(s3.get_object(Bucket=BUCKET, Key=entry["Key"])["Body"].read())
        for entry in listed.get("Contents", [])
    ]
    return respond(200, {"items": items})


def lambda_handler(event, context):
    method = event["httpMethod"]
    item_id = (event.get("pathParameters") or {}).get("id")
    if item_id is None:
        if method == "GET":
            return list_items()
        if method == "POST":
            return put_item(uuid.uuid4().hex[:8], event.get("body"), 201)
    elif method == "GET":
        return get_item(item_id)
    elif method == "PUT":
        return put_item(item_id, event.get("body"), 200)
    elif method == "DELETE":
        s3.delete_object(Bucket=BUCKET, Key=key_of(item_id))
        return respond(204, {})
    return respond(405, {"message": f"{method} is not supported here"})
