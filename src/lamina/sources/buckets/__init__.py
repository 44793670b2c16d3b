"""The embedded S3: buckets, objects, multipart uploads, notifications."""
