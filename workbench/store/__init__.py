"""Persistence: the only package that imports SQLAlchemy.

`Store` opens the SQLite file (WAL, foreign keys on), runs pending migrations and hands out repositories.
Repositories take and return plain frozen dataclasses (`records.py`), never live ORM objects, so nothing
outside this package can lazily hit the database from the wrong thread.
"""

from .db import Store

__all__ = ["Store"]
