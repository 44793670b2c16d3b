"""The Lambda guide's first Python function: greets the event's name, or the world."""


def lambda_handler(event, context):
    return "Hello, " + event.get("name", "World")
