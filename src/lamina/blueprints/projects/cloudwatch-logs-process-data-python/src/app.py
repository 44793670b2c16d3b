"""Decodes what a subscription filter delivers (base64 of gzip of JSON) and prints each event."""

import base64
import gzip
import json


def lambda_handler(event, context):
    data = json.loads(gzip.decompress(base64.b64decode(event["awslogs"]["data"])))
    for log_event in data["logEvents"]:
        print(f"{data['logGroup']} {data['logStream']}: {log_event['message']}")
    return {"logGroup": data["logGroup"], "events": len(data["logEvents"])}
