"""Plumbing the domain uses, knowing nothing of it: the database building blocks, encryption and
lookup hashes, the counter's hot statements, Idempotency-Key rows, the WeChat client,
subscription-message sending and the notification outbox. Nothing here imports the domain's
subpackages."""
