"""Incentives: merchants, perks, one-time verification codes and redemptions."""
