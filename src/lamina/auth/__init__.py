"""Who is calling: credentials and (later) IAM policy evaluation."""
