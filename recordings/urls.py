from django.urls import path

from recordings.views import archive, classes, config

urlpatterns = [
    # Classes (recordings): review, start, the class page and its fragments.
    path("classes/", classes.review, name="review"),
    path("classes/export.csv", classes.review_csv, name="review_csv"),
    path("classes/new/", classes.start, name="recording_start"),
    path("classes/new/options/", classes.start_options, name="recording_start_options"),
    path("classes/<int:pk>/", classes.detail, name="recording_detail"),
    path("classes/<int:pk>/status/", classes.status_fragment, name="recording_status"),
    path("classes/<int:pk>/timeline/", classes.timeline_fragment, name="recording_timeline"),
    path("classes/<int:pk>/archive/", archive.archive_fragment, name="recording_archive"),
    path("classes/<int:pk>/archive/files/", archive.archive_files_fragment, name="recording_archive_files"),
    path("classes/<int:pk>/archive/retry/", archive.archive_retry, name="archive_retry"),
    path("classes/<int:pk>/<str:action>/", classes.act, name="recording_act"),
    path("archive/<int:pk>/<str:name>", archive.archived_media, name="archived_media"),
    # Admin configuration.
    path("apps/", config.app_list, name="app_list"),
    path("apps/new/", config.app_edit, name="app_create"),
    path("apps/new/fields/", config.app_vendor_fields, name="app_create_fields"),
    path("apps/<int:pk>/", config.app_detail, name="app_detail"),
    path("apps/<int:pk>/edit/", config.app_edit, name="app_edit"),
    path("apps/<int:pk>/edit/fields/", config.app_vendor_fields, name="app_edit_fields"),
    path("apps/<int:pk>/toggle/", config.app_toggle, name="app_toggle"),
    path("apps/<int:pk>/check/", config.app_check, name="app_check"),
    path("apps/<int:pk>/register-callback/", config.app_register_callback, name="app_register_callback"),
    path("storage/", config.storage_list, name="storage_list"),
    path("storage/new/", config.storage_edit, name="storage_create"),
    path("storage/<int:pk>/", config.storage_edit, name="storage_edit"),
    path("storage/<int:pk>/validate/", config.storage_validate, name="storage_validate"),
    path("rooms/", config.room_list, name="room_list"),
    path("rooms/new/", config.room_edit, name="room_create"),
    path("rooms/<int:pk>/", config.room_edit, name="room_edit"),
]
