"""Durable state behind narrow ports; adapters per backend (sqlite/, blobs/, logs)."""
