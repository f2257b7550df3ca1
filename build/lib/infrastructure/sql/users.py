"""API users: a name, an admin flag and the SHA-256 of a random bearer token.

Tokens are 256-bit random values, so a fast hash is enough (no password stretching
needed); the token itself is shown once and never stored.
"""

from __future__ import annotations

import hashlib
import secrets
import time

from application.users import User, UserExistsError
from infrastructure.sql.database import Database

SCHEMA = """CREATE TABLE IF NOT EXISTS tf_users (
    name TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, is_admin BOOLEAN NOT NULL,
    created_at DOUBLE PRECISION NOT NULL)"""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SqlUserDirectory:
    def __init__(self, db: Database) -> None:
        self.db = db
        with db.transaction(lock="ticketforge-schema") as cur:
            cur.execute(SCHEMA)

    def create(self, name: str, is_admin: bool) -> tuple[User, str]:
        token = "tf_" + secrets.token_urlsafe(32)
        with self.db.transaction(lock="ticketforge-users") as cur:
            cur.execute("SELECT 1 FROM tf_users WHERE name = ?", (name,))
            if cur.fetchone() is not None:
                raise UserExistsError(name)
            cur.execute(
                "INSERT INTO tf_users (name, token_hash, is_admin, created_at) VALUES (?, ?, ?, ?)",
                (name, hash_token(token), is_admin, time.time()),
            )
        return User(name=name, is_admin=is_admin), token

    def authenticate(self, token: str) -> User | None:
        with self.db.read() as cur:
            cur.execute(
                "SELECT name, is_admin FROM tf_users WHERE token_hash = ?", (hash_token(token),)
            )
            row = cur.fetchone()
        return None if row is None else User(name=row[0], is_admin=bool(row[1]))
