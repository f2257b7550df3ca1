"""Backup files, and the event store's tables read and written as they are stored."""
