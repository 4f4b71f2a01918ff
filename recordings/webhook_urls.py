from django.urls import path

from recordings.webhooks import receive

urlpatterns = [path("<str:vendor>/<str:public_id>/", receive, name="vendor_callback")]
