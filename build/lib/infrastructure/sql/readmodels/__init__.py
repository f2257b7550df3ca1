"""The read-model store on SQLite and PostgreSQL (`store.py` says what each part does)."""

from infrastructure.sql.readmodels.store import SqlReadModelStore

__all__ = ["SqlReadModelStore"]
