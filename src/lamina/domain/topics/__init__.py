"""SNS: topics, subscriptions, the notifications they deliver and the filter policies that pick them. Pure: no I/O."""
