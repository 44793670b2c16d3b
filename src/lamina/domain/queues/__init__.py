"""Queues as SQS defines them: names, attributes, messages and their checksums, FIFO rules,
redrive. Pure rules; the stores and the service do the I/O."""
