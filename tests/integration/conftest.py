"""The integration fixtures (worker, stack) live in tests/stack_support.py, a plugin of tests/conftest.py
shared with tests/browser; the names the integration tests import from here stay importable."""

from __future__ import annotations

from tests.stack_support import SECRET_NAMES, Stack, Worker, wait_for

__all__ = ["SECRET_NAMES", "Stack", "Worker", "wait_for"]
