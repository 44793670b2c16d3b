"""Buckets and objects as S3 defines them: names, records, listings, ranges and conditions,
notification configurations and the events they send. Pure rules; the stores and the service do
the I/O."""
