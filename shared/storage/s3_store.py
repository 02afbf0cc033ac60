"""ObjectStore on S3 (boto3): AWS, MinIO, R2 or moto through `endpoint_url`."""

from __future__ import annotations

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from shared.errors import NotFound, StorageUnavailable
from shared.ports import ObjectInfo, check_object_key


class S3Store:
    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        timeout_seconds: float = 10.0,
    ) -> None:
        if not bucket:
            raise ValueError("BOOTHAI_S3_BUCKET is required with BOOTHAI_STORAGE=aws")
        self.bucket = bucket
        self._client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(
                signature_version="s3v4",
                connect_timeout=timeout_seconds,
                read_timeout=timeout_seconds,
                retries={"max_attempts": 2, "mode": "standard"},
                max_pool_connections=64,
            ),
        )

    def _call(self, method: str, **kwargs):
        try:
            return getattr(self._client, method)(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code in ("NoSuchKey", "404", "NotFound"):
                raise NotFound(f"no object {kwargs.get('Key', '')}") from exc
            raise StorageUnavailable(f"S3 {method}: {code}") from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(f"S3 {method}: {exc.__class__.__name__}") from exc

    def create_bucket(self) -> None:
        """Local development and tests; in AWS, template.yaml creates the bucket."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self._client.create_bucket(Bucket=self.bucket)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._call("put_object", Key=check_object_key(key), Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes:
        return self._call("get_object", Key=check_object_key(key))["Body"].read()

    def head(self, key: str) -> ObjectInfo | None:
        try:
            meta = self._call("head_object", Key=check_object_key(key))
        except NotFound:
            return None
        return ObjectInfo(key=key, size=meta["ContentLength"], content_type=meta["ContentType"])

    def delete(self, key: str) -> None:
        self._call("delete_object", Key=check_object_key(key))

    def move(self, src: str, dst: str) -> None:
        self._call(
            "copy_object",
            Key=check_object_key(dst),
            CopySource={"Bucket": self.bucket, "Key": check_object_key(src)},
        )
        self.delete(src)

    def list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        kwargs = {"Prefix": prefix}
        while True:
            page = self._call("list_objects_v2", **kwargs)
            keys += [obj["Key"] for obj in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return sorted(keys)
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

    def url(self, key: str, expires_in: int) -> str:
        return self._client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": check_object_key(key)},
            ExpiresIn=expires_in,
        )

    def ping(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            raise StorageUnavailable("S3 bucket unreachable") from exc
