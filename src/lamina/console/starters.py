"""What a function created "from scratch" starts with: a handler that answers 200 and says hello,
in the runtime's language, and the handler setting that finds it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RUNTIMES", "Starter", "starter_for"]

# The runtimes the create form offers (AWS's current ones); a server without one's interpreter
# refuses it with the message CreateFunction gives, shown next to the field.
RUNTIMES = (
    "python3.13",
    "python3.12",
    "python3.11",
    "nodejs22.x",
    "nodejs20.x",
    "provided.al2023",
)


@dataclass(frozen=True, slots=True)
class Starter:
    handler: str
    files: dict[str, str]
    executable: frozenset[str] = frozenset()


_PYTHON = Starter(
    "lambda_function.lambda_handler",
    {
        "lambda_function.py": (
            "import json\n\n\n"
            "def lambda_handler(event, context):\n"
            '    """Called once per event; `context` says how long is left."""\n'
            '    return {"statusCode": 200, "body": json.dumps("Hello from Lamina!")}\n'
        )
    },
)
_NODE = Starter(
    "index.handler",
    {
        "index.mjs": (
            "export const handler = async (event, context) => {\n"
            "  // Called once per event; context says how long is left.\n"
            '  return { statusCode: 200, body: JSON.stringify("Hello from Lamina!") };\n'
            "};\n"
        )
    },
)
_PROVIDED = Starter(
    "function.handler",
    {
        "bootstrap": (
            "#!/bin/sh\n"
            "# A custom runtime: ask the Runtime API for the next event, answer it, forever.\n"
            "set -eu\n"
            'API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation"\n'
            "while true; do\n"
            '  HEADERS="$(mktemp)"\n'
            '  curl -sS -D "$HEADERS" -o /dev/null "$API/next"\n'
            "  ID=$(grep -i Lambda-Runtime-Aws-Request-Id \"$HEADERS\" | tr -d '[:space:]' | cut -d: -f2)\n"
            '  curl -sS -X POST "$API/$ID/response" -d \'{"statusCode": 200, "body": "Hello from Lamina!"}\'\n'
            "done\n"
        )
    },
    frozenset({"bootstrap"}),
)


def starter_for(runtime: str) -> Starter:
    if runtime.startswith("python"):
        return _PYTHON
    if runtime.startswith("nodejs"):
        return _NODE
    return _PROVIDED
