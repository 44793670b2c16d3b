"""The S3 API (rest-xml) over the embedded buckets (`sources/buckets/`)."""
