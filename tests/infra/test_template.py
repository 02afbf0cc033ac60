"""template.yaml: lints clean (cfn-lint; `sam validate --lint` when its venv exists), and
agrees with the code — table names and key schema, handlers, lifecycle prefixes, timeouts."""

from __future__ import annotations

import importlib.util
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared import object_keys
from shared.domain import LATE_LIMIT_MAX
from shared.late_results import FINISHER_VISIBILITY_SECONDS
from shared.ports import TABLES

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
SAM = REPO / ".venv-sam" / "bin" / "sam"


class _Loader(yaml.SafeLoader):
    """YAML with CloudFormation short forms (!Ref, !Sub …) read as {"Fn": value}."""


def _tag(loader: _Loader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {suffix: value}


_Loader.add_multi_constructor("!", _tag)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(), Loader=_Loader)


def _of_type(template: dict, kind: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def _finish(process: subprocess.Popen) -> tuple[int, str]:
    output, _ = process.communicate(timeout=180)
    return process.returncode, output


def test_cfn_lint_passes(linters):
    code, output = _finish(linters["cfn-lint"])
    assert code == 0, output


@pytest.mark.skipif(not SAM.exists(), reason="aws-sam-cli not installed in .venv-sam "
                    "(python3 -m venv .venv-sam && .venv-sam/bin/pip install aws-sam-cli)")
def test_sam_validate_lint_passes(linters):
    code, output = _finish(linters["sam"])
    assert code == 0, output


def test_tables_match_the_code(template):
    """One table per logical table, named prefix + name (DynamoDBTables.name), with the key
    schema and TTL attribute that DynamoDBTables.create_tables uses."""
    from shared.storage.dynamodb_tables import DynamoDBTables

    tables = _of_type(template, "AWS::DynamoDB::Table")
    names = {t["Properties"]["TableName"]["Sub"]: t["Properties"] for t in tables.values()}
    prefix = "${TablePrefix}"
    assert sorted(names) == sorted(prefix + t for t in TABLES)
    code = DynamoDBTables(prefix=prefix, endpoint_url="http://127.0.0.1:9")
    for table in TABLES:
        props = names[code.name(table)]
        assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"},
                                      {"AttributeName": "sk", "KeyType": "RANGE"}]
        assert props["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"},
                                                 {"AttributeName": "sk", "AttributeType": "S"}]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_create_tables_builds_what_the_template_declares(aws, template):
    """The schema the tests and `boothai serve` create on moto equals the template's."""
    import boto3

    client = boto3.client("dynamodb", endpoint_url=aws.endpoint, region_name="us-east-1")
    declared = next(iter(_of_type(template, "AWS::DynamoDB::Table").values()))["Properties"]
    for table in TABLES:
        described = client.describe_table(TableName=aws.tables.name(table))["Table"]
        assert described["KeySchema"] == declared["KeySchema"]
        assert sorted(described["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == \
            declared["AttributeDefinitions"]
        ttl = client.describe_time_to_live(TableName=aws.tables.name(table))
        assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"


def test_bucket_is_private_encrypted_and_expires_transient_prefixes(template):
    bucket = template["Resources"]["PhotoBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    expiring = {r["Prefix"] for r in bucket["LifecycleConfiguration"]["Rules"] if "Prefix" in r}
    assert expiring == {object_keys.ORIGINALS, object_keys.RESULTS, object_keys.TRASH,
                        object_keys.INPUTS, object_keys.EDITS}
    assert object_keys.REFERENCES not in expiring  # slot presets must never expire


def test_every_handler_names_a_functions_module(template, linters):
    functions = _of_type(template, "AWS::Serverless::Function")
    assert set(functions) == {"IngestFunction", "ConsoleFunction", "WebhooksFunction",
                              "ImagesFunction", "VisionFunction", "FinisherFunction"}
    for name, resource in functions.items():
        module, attr = resource["Properties"]["Handler"].rsplit(".", 1)
        assert importlib.util.find_spec(module) is not None, name
        assert module.startswith("functions.") and attr == "handler", name
        if name == "FinisherFunction":  # fed by its queue, no URL (shared/late_results.py)
            assert "FunctionUrlConfig" not in resource["Properties"]
            continue
        # Every function is a public Function URL with the explicit InvokeFunction grant.
        assert resource["Properties"]["FunctionUrlConfig"]["AuthType"] == "NONE"
        permission = template["Resources"][name.replace("Function", "UrlInvokePermission")]
        assert permission["Properties"]["InvokedViaFunctionUrl"] is True


def test_ingest_outlasts_the_booth_window(template):
    ingest = template["Resources"]["IngestFunction"]["Properties"]
    window = template["Parameters"]["BoothWindowSeconds"]
    assert ingest["Timeout"] >= window["MaxValue"] + 5
    assert "FunctionUrlConfig" in ingest  # not API Gateway: its integrations stop at 29-30 s
    assert template["Globals"]["Function"]["Tracing"] == "Active"


# Time a function needs beyond the longest wait its code allows: for the APIs a cold start,
# reading the upload, encoding and storing the answer; the booth window already counts from
# the request's arrival, so ingest and console need only the bookkeeping drain after it.
API_OVERHEAD_SECONDS = 30
BOOTH_OVERHEAD_SECONDS = 5


def test_every_function_outlasts_the_longest_wait_its_code_allows(template):
    """A function that Lambda stops before its own timeout fires answers the client nothing
    (a bare 502 from the Function URL) and leaves the GPU working for no one."""
    from shared.config import Settings
    from shared.usecases import image_edits, vision

    settings = Settings()
    longest = {
        # /v1/images/edits waits for the GPU backend up to the API's own bound.
        "ImagesFunction": min(image_edits.API_TIMEOUT_SECONDS, settings.modal_timeout_seconds)
        + API_OVERHEAD_SECONDS,
        # a batch OCRs its files one by one, each bounded; a comparison fetches, then asks.
        "VisionFunction": max(vision.MAX_BATCH_FILES * settings.vision_timeout_seconds,
                              settings.fetch_timeout_seconds
                              + settings.vision_comparison_timeout_seconds)
        + API_OVERHEAD_SECONDS,
        "IngestFunction": template["Parameters"]["BoothWindowSeconds"]["MaxValue"]
        + BOOTH_OVERHEAD_SECONDS,
        # Try it runs one booth job
        "ConsoleFunction": settings.booth_window_seconds + BOOTH_OVERHEAD_SECONDS,
        # a late job works up to the longest late limit a slot may set
        "FinisherFunction": LATE_LIMIT_MAX + API_OVERHEAD_SECONDS,
    }
    for name, needed in longest.items():
        timeout = template["Resources"][name]["Properties"]["Timeout"]
        assert timeout >= needed, (name, timeout, needed)
        assert timeout <= 900, name  # Lambda's maximum


def test_the_finisher_queue_fits_its_function(template):
    """Lambda refuses an SQS event source whose visibility timeout is under the function's
    timeout; an order outliving every job's limit is useless; crashes end in a DLQ."""
    resources = template["Resources"]
    queue = resources["FinisherQueue"]["Properties"]
    finisher = resources["FinisherFunction"]["Properties"]
    assert queue["VisibilityTimeout"] >= finisher["Timeout"]
    assert queue["VisibilityTimeout"] == FINISHER_VISIBILITY_SECONDS  # the claim's period
    assert queue["MessageRetentionPeriod"] >= LATE_LIMIT_MAX
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"GetAtt": "FinisherDeadLetterQueue.Arn"}
    (event,) = finisher["Events"].values()
    assert event["Properties"]["BatchSize"] == 1
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    ingest = resources["IngestFunction"]["Properties"]["Environment"]["Variables"]
    assert ingest["BOOTHAI_FINISHER_QUEUE_URL"] == {"Ref": "FinisherQueue"}


def test_makefile_builds_every_function(template):
    makefile = (REPO / "infra" / "Makefile").read_text()
    for name in _of_type(template, "AWS::Serverless::Function"):
        assert f"build-{name}" in makefile


def test_share_links_expire_by_ttl_on_dynamodb(aws, template):
    """Issue 15: a share link's two lookups items carry `expires_at` as a DynamoDB number
    (the LookupsTable's TTL attribute); past it the link opens nothing, even before
    DynamoDB's TTL sweep deletes it. The console function serves `/s/`, and its policy holds
    what SharePages declares (test_iam checks the whole function)."""
    import asyncio

    import boto3

    from shared.domain import Job, ProviderName, Slot
    from shared.share_links import DAY, ShareLinks

    lookups = next(r for r in template["Resources"].values()
                   if r["Type"] == "AWS::DynamoDB::Table"
                   and r["Properties"]["TableName"]["Sub"].endswith("lookups"))
    assert lookups["Properties"]["TimeToLiveSpecification"] == {"AttributeName": "expires_at",
                                                               "Enabled": True}
    console = template["Resources"]["ConsoleFunction"]["Properties"]
    assert console["Handler"] == "functions.console.handler"
    assert "BOOTHAI_SHARE_BASE_URL" in console["Environment"]["Variables"]
    from functions import console as console_module
    from shared.usecases.share_pages import SharePages
    assert SharePages in console_module.handler.serves

    now = time.time()
    links = ShareLinks(aws.tables, clock=lambda: now)
    job = Job(tenant="acme", job_id="0000000000001abcdef0", provider=ProviderName.LOCAL,
              slot_index=1)
    slot = Slot(tenant="acme", provider=ProviderName.LOCAL, index=1, upload_token="t",
                share_pages=True, share_days=3)
    link = asyncio.run(links.ensure(job, slot))
    client = boto3.client("dynamodb", endpoint_url=aws.endpoint, region_name="us-east-1")
    for pk in (f"share#{link.token}", "sharejob#acme#0000000000001abcdef0"):
        raw = client.get_item(TableName=aws.tables.name("lookups"),
                              Key={"pk": {"S": pk}, "sk": {"S": "-"}})["Item"]
        assert raw["expires_at"] == {"N": str(int(now + 3 * DAY))}
    assert asyncio.run(links.open(link.token)) == link
    assert asyncio.run(links.current("acme", job.job_id)) == link
    # Past its expiry (before DynamoDB's sweep, which may take days) it opens nothing.
    later = ShareLinks(aws.tables, clock=lambda: link.expires_at + 1)
    assert asyncio.run(later.open(link.token)) is None
    assert asyncio.run(later.current("acme", job.job_id)) is None
    assert asyncio.run(links.revoke("acme", job.job_id)) is True
    assert asyncio.run(links.open(link.token)) is None
