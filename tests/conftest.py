"""Shared fixtures. Tests run on PostgreSQL (DATABASE_URL) with a real Celery worker where they need one."""

pytest_plugins = ["tests.sandbox_support", "tests.stack_support"]
