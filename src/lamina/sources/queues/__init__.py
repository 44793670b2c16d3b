"""The embedded SQS: queues, messages, long polling, FIFO order and deduplication, redrive."""
