"""Alembic migrations for the r2d-sdk results database (installed as `r2d_migrations`)."""
