"""Merchants, perks, verification codes and redemptions (issue 5)."""
