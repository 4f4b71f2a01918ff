"""The product's settings, plus one bare view for the webhook baseline (bench/urls.py)."""

from __future__ import annotations

from dashboard.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
