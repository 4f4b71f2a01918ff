import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
django_application = get_wsgi_application()  # sets Django up

from dashboard.callback_handler import CallbackHandler, SplitApplication  # noqa: E402

# Vendor callbacks skip the dashboard's session, auth and locale middleware (callback_handler.py).
application = SplitApplication(django_application, CallbackHandler())
