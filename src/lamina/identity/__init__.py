"""Identities: IAM users, roles, policies and sessions, and who may do what."""
