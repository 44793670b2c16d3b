"""Lamina's web console at /_lamina/console/: server-rendered pages over Lamina's own APIs, each
action taken as the signed-in identity (IAM decides, as for an API call)."""
