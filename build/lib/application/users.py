"""Who is acting: the API's users and the port that stores them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class User:
    name: str
    is_admin: bool = False


class UserExistsError(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(f"A user named '{name}' already exists")


class UserDirectory(Protocol):
    def create(self, name: str, is_admin: bool) -> tuple[User, str]:
        """Create a user; return it and its bearer token (shown once, stored hashed)."""
        ...

    def authenticate(self, token: str) -> User | None: ...
