"""Where objects live in a StorageTarget, as URLs. (Archiving backends build on this.)"""

from __future__ import annotations

from urllib.parse import quote

from recordings.choices import StorageProvider

# Public endpoints by provider, for targets that leave `endpoint` empty ({bucket}, {region}).
VIRTUAL_HOSTS = {
    StorageProvider.S3: "https://{bucket}.s3.{region}.amazonaws.com",
    StorageProvider.ALIYUN_OSS: "https://{bucket}.oss-{region}.aliyuncs.com",
    StorageProvider.TENCENT_COS: "https://{bucket}.cos.{region}.myqcloud.com",
    StorageProvider.HUAWEI_OBS: "https://{bucket}.obs.{region}.myhuaweicloud.com",
    StorageProvider.GOOGLE_GCS: "https://storage.googleapis.com/{bucket}",
}


def object_url(target, key: str) -> str:
    """The URL of `key` in `target`: path-style under an explicit endpoint, else the provider's host.

    Returns "" when the target cannot name a URL (vendor VOD, local files, Qiniu without endpoint).
    """
    if target is None or not key:
        return ""
    key = quote(key.lstrip("/"), safe="/")
    if target.endpoint:
        return f"{target.endpoint.rstrip('/')}/{quote(target.bucket)}/{key}"
    pattern = VIRTUAL_HOSTS.get(target.provider)
    if not pattern:
        return ""
    return f"{pattern.format(bucket=target.bucket, region=target.region or 'us-east-1')}/{key}"
