"""API Gateway: REST APIs (v1) and HTTP APIs (v2) — their definitions, the mapping templates and
proxy events of their integrations, and the endpoint that serves them (`<api-id>.execute-api.…`)."""
