"""Tables on DynamoDB (boto3). One physical table per logical table, keys `pk` + `sk`
(both strings), on-demand billing, TTL on `expires_at` — the same schema template.yaml
declares.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from shared.errors import ConditionFailed, StorageUnavailable
from shared.ports import TABLES

_ser = TypeSerializer()
_de = TypeDeserializer()


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    return value


def _encode(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _ser.serialize(_to_dynamo(v)) for k, v in item.items()}


def _decode(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: _from_dynamo(_de.deserialize(v)) for k, v in raw.items()}


class DynamoDBTables:
    def __init__(
        self,
        *,
        prefix: str,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        timeout_seconds: float = 5.0,
    ) -> None:
        self.prefix = prefix
        self._client = boto3.client(
            "dynamodb",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(
                connect_timeout=timeout_seconds,
                read_timeout=timeout_seconds,
                retries={"max_attempts": 2, "mode": "standard"},
                max_pool_connections=64,
            ),
        )

    def name(self, table: str) -> str:
        return f"{self.prefix}{table}"

    def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return getattr(self._client, method)(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConditionFailed("condition failed") from exc
            raise StorageUnavailable(f"DynamoDB {method}: {exc.response['Error']['Code']}") from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(f"DynamoDB {method}: {exc.__class__.__name__}") from exc

    def create_tables(self) -> None:
        """Create missing tables (local development, tests). In AWS, template.yaml does it."""
        existing = set(self._call("list_tables").get("TableNames", []))
        for table in TABLES:
            name = self.name(table)
            if name in existing:
                continue
            self._call(
                "create_table",
                TableName=name,
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                KeySchema=[
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
            self._client.get_waiter("table_exists").wait(TableName=name)
            self._call(
                "update_time_to_live",
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
            )

    @staticmethod
    def _live(item: dict[str, Any]) -> bool:
        import time

        exp = item.get("expires_at")
        return exp is None or exp > time.time()

    def get(self, table: str, pk: str, sk: str) -> dict[str, Any] | None:
        raw = self._call(
            "get_item",
            TableName=self.name(table),
            Key={"pk": {"S": pk}, "sk": {"S": sk}},
            ConsistentRead=True,
        ).get("Item")
        if raw is None:
            return None
        item = _decode(raw)
        return item if self._live(item) else None

    def put(
        self,
        table: str,
        item: dict[str, Any],
        *,
        if_absent: bool = False,
        if_version: int | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {"TableName": self.name(table), "Item": _encode(item)}
        if if_absent:
            kwargs["ConditionExpression"] = "attribute_not_exists(pk)"
        elif if_version is not None:
            kwargs["ConditionExpression"] = "#v = :v"
            kwargs["ExpressionAttributeNames"] = {"#v": "version"}
            kwargs["ExpressionAttributeValues"] = {":v": {"N": str(if_version)}}
        self._call("put_item", **kwargs)

    def update(
        self,
        table: str,
        pk: str,
        sk: str,
        *,
        set: dict[str, Any] | None = None,
        add: dict[str, int] | None = None,
        expires_at: int | None = None,
    ) -> dict[str, Any]:
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        set_parts: list[str] = []
        add_parts: list[str] = []
        for i, (attr, value) in enumerate((set or {}).items()):
            names[f"#s{i}"] = attr
            values[f":s{i}"] = _ser.serialize(_to_dynamo(value))
            set_parts.append(f"#s{i} = :s{i}")
        if expires_at is not None:
            names["#exp"] = "expires_at"
            values[":exp"] = {"N": str(int(expires_at))}
            set_parts.append("#exp = if_not_exists(#exp, :exp)")
        for i, (attr, delta) in enumerate((add or {}).items()):
            names[f"#a{i}"] = attr
            values[f":a{i}"] = {"N": str(int(delta))}
            add_parts.append(f"#a{i} :a{i}")
        expression = []
        if set_parts:
            expression.append("SET " + ", ".join(set_parts))
        if add_parts:
            expression.append("ADD " + ", ".join(add_parts))
        kwargs: dict[str, Any] = {
            "TableName": self.name(table),
            "Key": {"pk": {"S": pk}, "sk": {"S": sk}},
            "ReturnValues": "ALL_NEW",
        }
        if expression:
            kwargs["UpdateExpression"] = " ".join(expression)
            kwargs["ExpressionAttributeNames"] = names
            kwargs["ExpressionAttributeValues"] = values
        else:
            return self.get(table, pk, sk) or {"pk": pk, "sk": sk}
        return _decode(self._call("update_item", **kwargs).get("Attributes", {}))

    def add_within(
        self, table: str, pk: str, sk: str, *, add: dict[str, int], limits: dict[str, int],
        expires_at: int,
    ) -> dict[str, Any]:
        if not limits:
            raise ValueError("add_within needs at least one limit; use update() without")
        # One conditional UpdateItem: DynamoDB evaluates the condition and applies the ADD
        # atomically per item, so concurrent callers serialise on the item itself.
        names = {"#exp": "expires_at"}
        values: dict[str, Any] = {":exp": {"N": str(int(expires_at))}}
        adds, conditions = [], []
        for i, (name, delta) in enumerate(add.items()):
            names[f"#a{i}"] = name
            values[f":a{i}"] = {"N": str(int(delta))}
            adds.append(f"#a{i} :a{i}")
        for i, (name, limit) in enumerate(limits.items()):
            names[f"#l{i}"] = name
            values[f":l{i}"] = {"N": str(int(limit))}
            conditions.append(f"(attribute_not_exists(#l{i}) OR #l{i} < :l{i})")
        item = self._call(
            "update_item",
            TableName=self.name(table),
            Key={"pk": {"S": pk}, "sk": {"S": sk}},
            UpdateExpression=f"ADD {', '.join(adds)} SET #exp = if_not_exists(#exp, :exp)",
            ConditionExpression=" AND ".join(conditions),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
        return _decode(item.get("Attributes", {}))

    def query(
        self,
        table: str,
        pk: str,
        *,
        sk_prefix: str | None = None,
        descending: bool = False,
        limit: int | None = None,
        start_after: str | None = None,
    ) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self.name(table),
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ScanIndexForward": not descending,
            "ConsistentRead": True,
        }
        if sk_prefix:
            kwargs["KeyConditionExpression"] += " AND begins_with(sk, :pre)"
            kwargs["ExpressionAttributeValues"][":pre"] = {"S": sk_prefix}
        if start_after is not None:  # DynamoDB's own paging: the key need not exist
            kwargs["ExclusiveStartKey"] = {"pk": {"S": pk}, "sk": {"S": start_after}}
        items: list[dict[str, Any]] = []
        while True:
            if limit:
                kwargs["Limit"] = limit - len(items)
            page = self._call("query", **kwargs)
            items.extend(item for item in map(_decode, page.get("Items", [])) if self._live(item))
            start = page.get("LastEvaluatedKey")
            if not start or (limit and len(items) >= limit):
                return items[:limit] if limit else items
            kwargs["ExclusiveStartKey"] = start

    def delete(self, table: str, pk: str, sk: str) -> None:
        self._call(
            "delete_item", TableName=self.name(table), Key={"pk": {"S": pk}, "sk": {"S": sk}}
        )

    def ping(self, table: str) -> None:
        self._call("describe_table", TableName=self.name(table))
