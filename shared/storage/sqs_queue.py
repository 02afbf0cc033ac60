"""WorkQueue on SQS (boto3): AWS, or moto through `endpoint_url`."""

from __future__ import annotations

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from shared.errors import StorageUnavailable


class SqsQueue:
    def __init__(self, *, queue_url: str, endpoint_url: str | None = None,
                 region: str = "us-east-1", timeout_seconds: float = 5.0) -> None:
        self.queue_url = queue_url
        self._client = boto3.client(
            "sqs", endpoint_url=endpoint_url, region_name=region,
            # A booth is waiting while this is sent: short timeouts, one retry. When the
            # queue cannot be reached the booth's own request runs the job instead.
            config=Config(connect_timeout=timeout_seconds, read_timeout=timeout_seconds,
                          retries={"max_attempts": 2, "mode": "standard"}),
        )

    def send(self, body: str) -> None:
        try:
            self._client.send_message(QueueUrl=self.queue_url, MessageBody=body)
        except ClientError as exc:
            raise StorageUnavailable(f"SQS send_message: {exc.response['Error']['Code']}") from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(f"SQS send_message: {exc.__class__.__name__}") from exc
