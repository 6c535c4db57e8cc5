"""Alembic migrations for EUCORA's database, run by `eucora db upgrade` (see ``..db``)."""
