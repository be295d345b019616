"""Commitments, repairs, objections and the notification outbox (issue 4)."""
