"""Vendor wire protocols for the sandbox; registered in ``recordings.sandbox.server.PROTOCOLS``."""
