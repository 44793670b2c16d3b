"""Runs on a schedule: the event is EventBridge's "Scheduled Event", its time the fire time."""


def lambda_handler(event, context):
    print(f"scheduled job ran for {event['time']} ({', '.join(event.get('resources', []))})")
    return {"ranFor": event["time"]}
