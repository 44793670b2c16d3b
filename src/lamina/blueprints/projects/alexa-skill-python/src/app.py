"""Answers the requests an Alexa skill sends with the response document Alexa speaks."""


def speech(text, end_session):
    return {
        "version": "1.0",
        "response": {
            "outputSpeech": {"type": "PlainText", "text": text},
            "card": {"type": "Simple", "title": "Greeter", "content": text},
            "shouldEndSession": end_session,
        },
    }


def lambda_handler(event, context):
    request = event["request"]
    kind = request["type"]
    if kind == "LaunchRequest":
        return speech("Welcome to the greeter. Say hello to me.", False)
    if kind == "IntentRequest":
        intent = request["intent"]
        if intent["name"] == "HelloIntent":
            name = ((intent.get("slots") or {}).get("name") or {}).get("value") or "friend"
            return speech(f"Hello, {name}!", True)
        if intent["name"] in ("AMAZON.StopIntent", "AMAZON.CancelIntent"):
            return speech("Goodbye.", True)
        return speech("I can only say hello.", False)
    return {"version": "1.0", "response": {}}  # SessionEndedRequest: nothing to say
