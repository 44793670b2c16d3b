"""Work done at import runs once per execution environment (the cold start); what it keeps is there
for every warm invocation after, and gone when a new environment starts."""

import datetime

STARTED_AT = datetime.datetime.now(datetime.timezone.utc).isoformat()
CACHE = {}
INVOCATIONS = {"count": 0}


def lambda_handler(event, context):
    INVOCATIONS["count"] += 1
    key = event.get("key", "default")
    hit = key in CACHE
    if not hit:
        CACHE[key] = f"computed at invocation {INVOCATIONS['count']}"
    return {
        "environmentStartedAt": STARTED_AT,
        "invocations": INVOCATIONS["count"],
        "key": key,
        "hit": hit,
        "value": CACHE[key],
    }
