"""Every closed vocabulary of RecDesk, in one place; models and vendor adapters share these."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Vendor(models.TextChoices):
    TENCENT_TIW = "tencent_tiw", _("Tencent TIW (API 3.0)")
    TENCENT_TIC = "tencent_tic", _("Tencent interactive classroom (legacy)")
    AGORA = "agora", _("Agora")
    ZEGO = "zego", _("ZEGO")
    VOLCENGINE = "volcengine", _("Volcengine")


class Mode(models.TextChoices):
    INDIVIDUAL = "individual", _("Individual streams")
    MIXED = "mixed", _("Mixed")
    WEB_PAGE = "web_page", _("Web page")
    WHITEBOARD = "whiteboard", _("Whiteboard")


class ObservedState(models.TextChoices):
    """What the vendor last told us. `finished` and `failed` are terminal."""

    STARTING = "starting", _("Starting")
    RECORDING = "recording", _("Recording")
    PAUSED = "paused", _("Paused")
    STOPPING = "stopping", _("Stopping")
    PROCESSING = "processing", _("Processing")
    FINISHED = "finished", _("Finished")
    FAILED = "failed", _("Failed")


TERMINAL_STATES = frozenset({ObservedState.FINISHED, ObservedState.FAILED})
ACTIVE_STATES = frozenset(set(ObservedState) - TERMINAL_STATES)


class DesiredState(models.TextChoices):
    """What staff asked for."""

    RECORDING = "recording", _("Recording")
    PAUSED = "paused", _("Paused")
    STOPPED = "stopped", _("Stopped")


class FinishReason(models.TextChoices):
    USER_CALL = "user_call", _("Stopped by staff")
    IDLE = "idle", _("Stopped automatically: the room was idle")
    MAX_DURATION = "max_duration", _("Stopped at the maximum recording duration")
    FORCE_STOP = "force_stop", _("Stopped by the vendor (paused too long or over 24 hours)")
    EXCEPTION = "exception", _("The vendor's recorder failed")
    NO_FILE = "no_file", _("Recording ended without producing a file")
    START_FAILED = "start_failed", _("The recording never started")
    UNKNOWN = "unknown", _("Stopped for a reason the vendor did not give")


class StorageProvider(models.TextChoices):
    S3 = "s3", _("Amazon S3")
    S3_COMPATIBLE = "s3_compatible", _("S3-compatible (MinIO, Ceph, R2, …)")
    ALIYUN_OSS = "aliyun_oss", _("Alibaba Cloud OSS")
    TENCENT_COS = "tencent_cos", _("Tencent Cloud COS")
    HUAWEI_OBS = "huawei_obs", _("Huawei Cloud OBS")
    GOOGLE_GCS = "google_gcs", _("Google Cloud Storage")
    QINIU = "qiniu", _("Qiniu Kodo")
    VENDOR_VOD = "vendor_vod", _("The vendor's own VOD")
    LOCAL = "local", _("Local files")


class SegmentKind(models.TextChoices):
    CAMERA = "camera", _("Camera")
    SCREEN = "screen", _("Screen share")
    WHITEBOARD = "whiteboard", _("Whiteboard")
    MIXED = "mixed", _("Mixed")
    AUDIO = "audio", _("Audio")


class ArchiveStatus(models.TextChoices):
    PENDING = "pending", _("Not archived yet")
    COPYING = "copying", _("Copying")
    ARCHIVED = "archived", _("Archived")
    FAILED = "failed", _("Archiving failed")


class CommandStatus(models.TextChoices):
    PENDING = "pending", _("Waiting to be sent")
    SENT = "sent", _("Sent to the vendor")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class DeliveryOutcome(models.TextChoices):
    PENDING = "pending", _("Waiting to be applied")
    APPLIED = "applied", _("Applied")
    DUPLICATE = "duplicate", _("Duplicate (ignored)")
    STALE = "stale", _("Older than the known state (ignored)")
    IGNORED = "ignored", _("Authentic, not handled")
    REJECTED = "rejected", _("Rejected: bad signature")
    ERROR = "error", _("Error while applying")


class ActorType(models.TextChoices):
    USER = "user", _("Staff")
    CALLBACK = "callback", _("Vendor callback")
    RECONCILER = "reconciler", _("Reconciler")
    SYSTEM = "system", _("System")
