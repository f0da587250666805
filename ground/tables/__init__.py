"""The seat's tables, one metadata: tickets and units, the knowledge base, the callback surveys, the console.

Only the store (`ground.store`) writes them; `migrations/env.py` imports this package for autogenerate.
"""
from ground.tables import callbacks, console, knowledge  # noqa: F401  (registers their tables on the metadata)
from ground.tables.tickets import Base, metadata

__all__ = ["Base", "metadata"]
