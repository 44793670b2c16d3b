"""Code blob stores."""

from lamina.store.blobs.filesystem import FilesystemBlobStore

__all__ = ["FilesystemBlobStore"]
