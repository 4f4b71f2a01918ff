"""Shared fixtures. Tests run on PostgreSQL (DATABASE_URL) with a real Celery worker where they need one."""
