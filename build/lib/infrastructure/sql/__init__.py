"""SQL storage for read models, the work queue and users, on SQLite or PostgreSQL."""
