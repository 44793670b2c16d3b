"""The EventBridge API (json protocol, X-Amz-Target: AWSEvents.<Operation>)."""
