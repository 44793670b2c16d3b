"""Processes a batch of SQS messages; a message it cannot process is reported on its own, so the
others leave the queue and only that one comes back (ReportBatchItemFailures)."""

import json


def process(body):
    document = json.loads(body)  # a message that is not JSON fails
    print("processed", json.dumps(document, sort_keys=True))


def lambda_handler(event, context):
    failures = []
    for record in event["Records"]:
        try:
            process(record["body"])
        except ValueError:
            print("could not process message " + record["messageId"])
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
