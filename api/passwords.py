"""Passwords of the credit office's admins and the console's clerks: one Argon2 hasher
(argon2-cffi's defaults), and a hash to verify against when a username is unknown, so
that the time a refused sign-in takes tells nothing about which usernames exist."""
from __future__ import annotations

import functools
import secrets

from argon2 import PasswordHasher

hasher = PasswordHasher()


@functools.cache
def dummy_hash() -> str:
    """A hash to verify against when the username is unknown (made once)."""
    return hasher.hash(secrets.token_urlsafe(16))
