"""Prints the message of each SNS notification it receives."""


def lambda_handler(event, context):
    messages = [record["Sns"]["Message"] for record in event["Records"]]
    for message in messages:
        print("From SNS: " + message)
    return messages
