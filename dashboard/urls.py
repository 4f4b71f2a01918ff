from django.contrib import admin
from django.contrib.auth.views import LogoutView
from django.urls import include, path

from dashboard import views
from recordings.views import classes

urlpatterns = [
    path("", classes.home, name="home"),
    path("login/", views.RecDeskLoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("users/", views.user_list, name="user_list"),
    path("users/new/", views.user_edit, name="user_create"),
    path("users/<int:pk>/", views.user_edit, name="user_edit"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("django-admin/", admin.site.urls),
    path("hooks/", include("recordings.webhook_urls")),
    path("", include("recordings.urls")),
]
