"""The template engine frees what a page was rendered from when the page is written, not later."""

from __future__ import annotations

import gc
import weakref

import pytest
from django.contrib.auth.models import AnonymousUser
from django.template import engines
from django.template.loader import render_to_string
from django.test import RequestFactory


class Payload:
    """Stands for a view's data, such as a class's laid-out timeline."""


@pytest.mark.parametrize("how", ["file", "string"])
def test_a_rendered_context_is_freed_without_waiting_for_the_garbage_collector(how):
    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    payload = Payload()
    gone = weakref.ref(payload)
    gc.collect()
    gc.disable()
    try:
        if how == "file":
            html = render_to_string(
                "recordings/detail.html#log", {"log": [], "payload": payload}, request=request
            )
            assert 'id="log"' in html
        else:
            html = (
                engines["django"]
                .from_string("{% if payload %}drawn{% endif %}")
                .render({"payload": payload}, request)
            )
            assert html == "drawn"
        del payload
        # Stock Django keeps it in a ContextDict <-> Context cycle until a collection.
        assert gone() is None
    finally:
        gc.enable()
