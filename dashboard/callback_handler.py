"""The web process's WSGI application: vendor callbacks skip the dashboard's middleware.

A vendor's callback (/hooks/…) carries no cookie, session, CSRF token or language, and its answer is
a fixed acknowledgement or a JSON error. Sessions, locale, CSRF (the receiver is exempt anyway), auth,
messages, clickjacking, htmx, the user's time zone and axes have nothing to do for it, yet together
they cost about a quarter of the receiver's CPU per callback (0.15-0.2 ms of 0.6-0.8 ms measured in
process, bench/webhooks.py). Callbacks keep SecurityMiddleware (HTTPS redirect, HSTS, nosniff) and
CommonMiddleware (the Host header checked against ALLOWED_HOSTS, disallowed user agents). Every other
path goes through settings.MIDDLEWARE as before; so do tests using Django's client or live server.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.utils.module_loading import import_string

# recordings/webhook_urls.py, mounted at "hooks/" by dashboard/urls.py.
CALLBACK_PREFIX = "/hooks/"
CALLBACK_MIDDLEWARE = (
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
)


class CallbackHandler(WSGIHandler):
    """A WSGIHandler (request signals, URL resolution, error pages as usual) with a shorter chain."""

    def load_middleware(self, is_async=False):
        # BaseHandler.load_middleware reads settings.MIDDLEWARE. These are plain synchronous
        # middleware without view, exception or template-response hooks, so nesting them is all.
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._get_response)
        for path in reversed(CALLBACK_MIDDLEWARE):
            middleware = import_string(path)(handler)
            hooks = ("process_view", "process_exception", "process_template_response")
            if any(hasattr(middleware, hook) for hook in hooks):
                raise ImproperlyConfigured(f"{path} needs Django's full middleware loading")
            handler = convert_exception_to_response(middleware)
        self._middleware_chain = handler


class SplitApplication:
    """Sends callbacks to `callbacks`, everything else to `main`."""

    def __init__(self, main, callbacks) -> None:
        self.main = main
        self.callbacks = callbacks

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith(CALLBACK_PREFIX):
            return self.callbacks(environ, start_response)
        return self.main(environ, start_response)
