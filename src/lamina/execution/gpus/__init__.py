"""GPUs: finding the host's (discovery), handing them to environments (allocator), showing an
environment only its own (exposure), and measuring what its processes hold (usage)."""
