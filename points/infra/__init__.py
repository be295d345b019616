"""Plumbing the domain uses, knowing nothing of it: the database building blocks, encryption and
lookup hashes, the counter's hot statements, the WeChat client, subscription-message sending,
the notification outbox and the app's hooks. Nothing here imports the domain's subpackages."""
