"""Adapters of ObjectDataStore (object bytes): files in the data directory."""

from lamina.store.objects.filesystem import FilesystemObjectData

__all__ = ["FilesystemObjectData"]
