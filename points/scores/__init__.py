"""Scores: recomputed whenever records change and served to residents, the Redis cache of current
scores, the batch work over every subject (full recompute, the daily sweep, retention) and the
maintenance commands (verify scores, re-encrypt personal data)."""
