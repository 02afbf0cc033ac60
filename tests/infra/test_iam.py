"""Least privilege, read off the code: each Lambda function's policies in template.yaml
grant exactly what the use cases behind its handler declare (`access()`), no more, no less.

The declarations themselves are held true at run time: every component receives ports
scoped to its `Access` (shared/access.py), so any test that drives a use case fails when the
code touches a table or prefix that is not declared.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared import object_keys
from shared.access import Access, Level, Secret, union
from shared.late_results import FINISHER_QUEUE
from shared.ports import TABLES
from tests.infra.test_template import _Loader

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"

TABLE_POLICIES = {"DynamoDBReadPolicy": Level.READ, "DynamoDBWritePolicy": Level.WRITE,
                  "DynamoDBCrudPolicy": Level.CRUD}
OBJECT_ACTIONS = {
    frozenset({"s3:GetObject"}): Level.READ,
    frozenset({"s3:PutObject"}): Level.WRITE,
    frozenset({"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}): Level.CRUD,
}
SECRETS = {"SigningKeySecret": Secret.SIGNING_KEY, "ProviderKeysSecret": Secret.PROVIDER_KEYS}
QUEUES = {"FinisherQueue": FINISHER_QUEUE}
BUCKET_ARN = {"GetAtt": "PhotoBucket.Arn"}


class Unrecognised(AssertionError):
    pass


def _table_names(template: dict[str, Any]) -> dict[str, str]:
    """Logical resource id → logical table name (`${TablePrefix}jobs` → jobs)."""
    names = {}
    for rid, res in template["Resources"].items():
        if res["Type"] == "AWS::DynamoDB::Table":
            names[rid] = res["Properties"]["TableName"]["Sub"].removeprefix("${TablePrefix}")
    assert sorted(names.values()) == sorted(TABLES)
    return names


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _object_prefix(resource: Any) -> str:
    text = resource.get("Sub", "") if isinstance(resource, dict) else ""
    head = "${PhotoBucket.Arn}/"
    if not (text.startswith(head) and text.endswith("*")):
        raise Unrecognised(f"object resource {resource!r}: want !Sub ${{PhotoBucket.Arn}}/<prefix>*")
    prefix = text.removeprefix(head).removesuffix("*")
    if prefix not in object_keys.PREFIXES:
        raise Unrecognised(f"{prefix!r} is not a prefix of shared/object_keys.py")
    return prefix


def _statements(statements: list[dict[str, Any]]) -> Access:
    access = Access()
    for st in statements:
        if st.get("Effect") != "Allow" or set(st) - {"Sid", "Effect", "Action", "Resource"}:
            raise Unrecognised(f"statement {st!r}")
        actions = frozenset(_as_list(st["Action"]))
        if actions == {"s3:ListBucket"} and st["Resource"] == BUCKET_ARN:
            access = access | Access(list_bucket=True)
            continue
        level = OBJECT_ACTIONS.get(actions)
        if level is None:
            raise Unrecognised(f"actions {sorted(actions)}")
        for resource in _as_list(st["Resource"]):
            access = access | Access(objects={_object_prefix(resource): level})
    return access


def granted(function: dict[str, Any], tables: dict[str, str], globals_: dict[str, Any]) -> Access:
    """What a function's Policies (and BOOTHAI_SECRET_IDS) grant, in Access terms. Anything
    this cannot read is a failure, so no grant slips past unchecked."""
    props = function["Properties"]
    access = Access()
    for policy in props.get("Policies", []):
        (name, value), = policy.items()
        if name in TABLE_POLICIES:
            access = access | Access(tables={tables[value["TableName"]["Ref"]]: TABLE_POLICIES[name]})
        elif name == "Statement":
            access = access | _statements(value)
        elif name == "AWSSecretsManagerGetSecretValuePolicy":
            access = access | Access(secrets=frozenset({SECRETS[value["SecretArn"]["Ref"]]}))
        elif name == "SQSSendMessagePolicy":
            queue = value["QueueName"]["GetAtt"].removesuffix(".QueueName")
            access = access | Access(queues={QUEUES[queue]: Level.WRITE})
        else:
            raise Unrecognised(f"policy {name}")
    # An SQS event source: SAM grants the function its poller policy on that queue.
    for event in (props.get("Events") or {}).values():
        if event["Type"] != "SQS":
            raise Unrecognised(f"event {event['Type']}")
        queue = event["Properties"]["Queue"]["GetAtt"].removesuffix(".Arn")
        access = access | Access(queues={QUEUES[queue]: Level.READ})
    # The secrets the function reads at cold start must be the ones it may read.
    env = {**globals_.get("Environment", {}).get("Variables", {}),
           **props.get("Environment", {}).get("Variables", {})}
    ids = env.get("BOOTHAI_SECRET_IDS")
    listed = ids["Sub"].replace("${", "").replace("}", "").split(",") if "Sub" in ids else [ids["Ref"]]
    assert frozenset(SECRETS[s.strip()] for s in listed) == access.secrets, (
        f"BOOTHAI_SECRET_IDS lists {listed}, the policies grant {sorted(access.secrets)}")
    return access


def declared(handler_path: str) -> Access:
    module_name, _, attr = handler_path.rpartition(".")
    handler = getattr(importlib.import_module(module_name), attr)
    return union(*(use_case.access() for use_case in handler.serves))


def differences(want: Access, have: Access) -> list[str]:
    problems = []
    for kind in ("tables", "objects"):
        w, h = getattr(want, kind), getattr(have, kind)
        for name in sorted(set(w) | set(h)):
            if w.get(name) != h.get(name):
                problems.append(f"{kind[:-1]} {name}: declared {w.get(name)}, granted {h.get(name)}")
    if want.list_bucket != have.list_bucket:
        problems.append(f"s3:ListBucket: declared {want.list_bucket}, granted {have.list_bucket}")
    if dict(want.queues) != dict(have.queues):
        problems.append(f"queues: declared {dict(want.queues)}, granted {dict(have.queues)}")
    if want.secrets != have.secrets:
        problems.append(f"secrets: declared {sorted(want.secrets)}, granted {sorted(have.secrets)}")
    return problems


def functions_of(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {rid: res for rid, res in template["Resources"].items()
            if res["Type"] == "AWS::Serverless::Function"}


def check(template: dict[str, Any]) -> dict[str, list[str]]:
    tables = _table_names(template)
    globals_ = template.get("Globals", {}).get("Function", {})
    return {rid: differences(declared(fn["Properties"]["Handler"]), granted(fn, tables, globals_))
            for rid, fn in functions_of(template).items()}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(), Loader=_Loader)


def test_every_function_is_granted_exactly_what_its_use_cases_declare(template):
    problems = {rid: p for rid, p in check(template).items() if p}
    assert not problems, "\n".join(f"{rid}: {line}" for rid, lines in problems.items()
                                   for line in lines)


def test_the_images_and_vision_functions_may_read_api_keys(template):
    """The finding that started this: API-key auth reads `apikey#…` items in lookups."""
    tables = _table_names(template)
    for rid in ("ImagesFunction", "VisionFunction"):
        fn = functions_of(template)[rid]
        assert granted(fn, tables, template["Globals"]["Function"]).table_allows("lookups", Level.READ)


@pytest.mark.parametrize("mutation, expected", [
    ("drop_lookups", "table lookups: declared crud, granted None"),
    ("extra_jobs_crud", "table jobs: declared None, granted crud"),
    ("bucket_wide", "policy S3CrudPolicy"),
    ("extra_prefix", "object references/: declared read, granted crud"),
    ("no_queue", "queues: declared {'finisher': <Level.WRITE: 'write'>}, granted {}"),
])
def test_the_check_catches_missing_and_extra_grants(template, mutation, expected):
    """The check is not vacuous: take a correct template, break one grant, watch it fail."""
    import copy

    broken = copy.deepcopy(template)
    policies = broken["Resources"]["IngestFunction"]["Properties"]["Policies"]
    if mutation == "drop_lookups":
        policies[:] = [p for p in policies if p.get("DynamoDBCrudPolicy", {}).get(
            "TableName") != {"Ref": "LookupsTable"}]
    elif mutation == "extra_jobs_crud":
        broken["Resources"]["WebhooksFunction"]["Properties"]["Policies"].append(
            {"DynamoDBCrudPolicy": {"TableName": {"Ref": "JobsTable"}}})
    elif mutation == "no_queue":
        policies[:] = [p for p in policies if "SQSSendMessagePolicy" not in p]
    elif mutation == "bucket_wide":
        policies.append({"S3CrudPolicy": {"BucketName": {"Ref": "PhotoBucket"}}})
    elif mutation == "extra_prefix":
        policies.append({"Statement": [{"Effect": "Allow", "Action": [
            "s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": {"Sub": "${PhotoBucket.Arn}/references/*"}}]})
    try:
        function = "WebhooksFunction" if mutation == "extra_jobs_crud" else "IngestFunction"
        problems = check(broken)[function]
    except Unrecognised as exc:
        problems = [str(exc)]
    assert any(expected in line for line in problems), problems


def test_every_deployed_handler_exists_and_every_handler_is_deployed(template):
    """No function module carries a Lambda handler that template.yaml never deploys."""
    deployed = {fn["Properties"]["Handler"] for fn in functions_of(template).values()}
    found = set()
    for path in sorted((TEMPLATE.parent / "functions").glob("*.py")):
        module = importlib.import_module(f"functions.{path.stem}")
        if callable(getattr(module, "handler", None)):
            found.add(f"functions.{path.stem}.handler")
    assert found == deployed
