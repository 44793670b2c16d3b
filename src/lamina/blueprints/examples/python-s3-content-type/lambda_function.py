"""On an S3 event, reads the object's content type with boto3 (which the runtime provides)."""

import urllib.parse

import boto3

s3 = boto3.client("s3")


def lambda_handler(event, context):
    record = event["Records"][0]["s3"]
    key = urllib.parse.unquote_plus(record["object"]["key"])
    response = s3.head_object(Bucket=record["bucket"]["name"], Key=key)
    print("CONTENT TYPE: " + response["ContentType"])
    return response["ContentType"]
