"""The `lamina` command. Imports stay lazy: boto3 or the server stack cost a second to import."""
