"""Keys per operator (issue 14): each account stores its own Gemini and Turbotext keys,
sealed at rest, never sent back; a job of that account calls the provider with its key
(booth uploads, Try it, Turbotext's polls and result download), another account falls back
to the deployment's key or is told to add one; "Check key" makes the provider's cheapest
real call and says what it answered. A real server on loopback, the real google-genai
client and httpx against the fakes, which record the key of every call."""

from __future__ import annotations

import asyncio
import base64
import logging
from pathlib import Path

import httpx
import pytest

from shared.config import Settings
from shared.domain import ProcessingType, ProviderName
from shared.secret_box import SealedSecretError, SecretBox
from shared.services import build_services
from tests.conftest import free_port, run
from tests.fakes.gemini_server import INVALID_KEY_MESSAGE, QUOTA_MESSAGE, FakeGemini
from tests.fakes.server import run_app_in_thread
from tests.fakes.turbotext_server import NO_MONEY_TEXT, WRONG_KEY_TEXT, FakeTurbotext
from tests.helpers import photos
from tests.security.conftest import SECRETS

DEPLOYMENT_GEMINI = "deploy-gemini-key-0000"
DEPLOYMENT_TURBOTEXT = "deploy-turbotext-key-0000"
ALPHA_GEMINI = "AIzaSyAlphaOwnGeminiKey-7c1e9b2f4aZZ"
ALPHA_TURBOTEXT = "alpha-own-turbotext-key-5d8e3a"
WRONG_GEMINI = "AIzaSyNotAKeyGoogleKnows-000000000000"
# Every key of this file joins the secrets tests/security/test_no_secrets_in_logs.py looks for.
SECRETS.update({DEPLOYMENT_GEMINI, DEPLOYMENT_TURBOTEXT, ALPHA_GEMINI, ALPHA_TURBOTEXT,
                WRONG_GEMINI})
PASSWORDS = {"alpha": "alpha-keys-operator-1", "bravo": "bravo-keys-operator-2"}


@pytest.fixture
def fakes():
    gemini, turbotext = FakeGemini(DEPLOYMENT_GEMINI), FakeTurbotext(DEPLOYMENT_TURBOTEXT)
    gemini.accept(ALPHA_GEMINI)
    turbotext.accept(ALPHA_TURBOTEXT)
    g_url, g_stop = run_app_in_thread(gemini.app)
    t_url, t_stop = run_app_in_thread(turbotext.app)
    yield {"gemini": gemini, "gemini_url": g_url, "turbotext": turbotext, "turbotext_url": t_url}
    g_stop()
    t_stop()


@pytest.fixture
def deployment(tmp_path, fakes, live_server_factory):
    """`make(deployment_keys=True, **settings)`: a server with both keyed tabs and Local,
    public at its own loopback address (Turbotext fetches /media and calls /hooks), two
    accounts with a prompt slot on each keyed tab."""

    def make(*, deployment_keys: bool = True, **overrides):
        port = free_port()
        keys = ({"gemini_api_key": DEPLOYMENT_GEMINI, "turbotext_api_key": DEPLOYMENT_TURBOTEXT}
                if deployment_keys else {})
        settings = Settings(**{
            "data_dir": tmp_path / f"data-{port}",
            "enabled_providers": ["turbotext", "gemini", "local"],
            "public_base_url": f"http://127.0.0.1:{port}",
            "gemini_base_url": fakes["gemini_url"], "turbotext_base_url": fakes["turbotext_url"],
            **keys, **overrides})
        services = build_services(settings)
        accounts = {name: run(_account(services, name)) for name in PASSWORDS}
        server = live_server_factory(services, port)
        for account in accounts.values():
            account["client"] = httpx.Client(base_url=server.url, auth=account["auth"],
                                             timeout=60)
            account["links"] = {p: f"{server.url}/u/{t}" for p, t in account["tokens"].items()}
        return {"services": services, "base": server.url, **accounts, **fakes}

    return make


async def _account(services, name: str) -> dict:
    tenant, _ = await services.create_tenant(name, PASSWORDS[name])
    tokens = {}
    for provider in (ProviderName.GEMINI, ProviderName.TURBOTEXT):
        if provider not in services.settings.enabled_providers:
            continue
        slot = await services.repo.get_slot(name, provider, 1)
        slot.type, slot.prompt, slot.enabled = ProcessingType.PROMPT, "a winter coat", True
        await services.repo.save_slot(slot)
        tokens[provider] = slot.upload_token
    SECRETS.add(tenant.upload_password)
    return {"name": name, "auth": (name, PASSWORDS[name]), "password": tenant.upload_password,
            "tokens": tokens}


def _upload(account: dict, provider: ProviderName) -> httpx.Response:
    return httpx.post(account["links"][provider], data=photos.dslr_fields(account["password"]),
                      files={"fileToUpload": ("IMG_0001.JPG", photos.green_screen(480, 360),
                                              "image/jpeg")}, timeout=60)


def _try(account: dict, provider: str) -> httpx.Response:
    return account["client"].post(f"/api/slots/{provider}/1/test", files={
        "file": ("guest.jpg", photos.green_screen(480, 360), "image/jpeg")})


def _db_bytes(data_dir: Path) -> bytes:
    db = data_dir / "boothai.sqlite3"
    return b"".join(p.read_bytes() for p in (db, Path(f"{db}-wal")) if p.exists())


def _forms_of(key: str) -> list[bytes]:
    """The key and the encodings a careless store could keep it in."""
    raw = key.encode()
    return [raw, base64.b64encode(raw), base64.urlsafe_b64encode(raw),
            base64.b64encode(raw).rstrip(b"="), raw.hex().encode()]


# -- storage and listing --------------------------------------------------------------------------
def test_a_key_is_sealed_at_rest_shown_masked_and_never_sent_back(deployment, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    d = deployment()
    alpha = d["alpha"]["client"]
    before = alpha.get("/api/provider-keys").json()
    assert before == {"keys": [
        {"provider": "turbotext", "set": True, "last4": None, "source": "deployment",
         "updated_at": None},
        {"provider": "gemini", "set": True, "last4": None, "source": "deployment",
         "updated_at": None}]}

    saved = alpha.put("/api/provider-keys/gemini", json={"key": f"  {ALPHA_GEMINI}\n"})
    assert saved.status_code == 200, saved.text
    item = saved.json()
    assert item["provider"] == "gemini" and item["set"] is True
    assert item["source"] == "account" and item["last4"] == ALPHA_GEMINI[-4:]
    assert isinstance(item["updated_at"], float)
    listed = {k["provider"]: k for k in alpha.get("/api/provider-keys").json()["keys"]}
    assert listed["gemini"] == item and listed["turbotext"]["source"] == "deployment"

    # At rest: neither the key nor any encoding of it in the SQLite file; a sealed value that
    # opens only with this deployment's key and only on this account's row for Gemini.
    raw = _db_bytes(d["services"].settings.data_dir)
    for form in _forms_of(ALPHA_GEMINI):
        assert form not in raw
    stored = d["services"].tables.get("tenants", "tenant", "alpha")["own_key_gemini"]
    assert stored["sealed"].startswith("sb1.") and stored["last4"] == ALPHA_GEMINI[-4:]
    with pytest.raises(SealedSecretError):
        SecretBox(b"another deployment's key").open(stored["sealed"],
                                                    "tenants/alpha/provider_key/gemini")
    with pytest.raises(SealedSecretError):  # copied onto another account or provider
        d["services"].box.open(stored["sealed"], "tenants/bravo/provider_key/gemini")
    with pytest.raises(SealedSecretError):
        d["services"].box.open(stored["sealed"], "tenants/alpha/provider_key/turbotext")

    # Never sent back, nor any part of the deployment's key, anywhere the UI reads.
    for path in ("/api/provider-keys", "/api/slots", "/api/stats"):
        body = alpha.get(path).text
        assert ALPHA_GEMINI not in body and ALPHA_GEMINI[:-4] not in body
        assert DEPLOYMENT_GEMINI not in body and DEPLOYMENT_GEMINI[-4:] not in body
    assert ALPHA_GEMINI not in caplog.text and DEPLOYMENT_GEMINI not in caplog.text
    # The other account sees none of it.
    bravo = {k["provider"]: k for k in d["bravo"]["client"].get("/api/provider-keys").json()["keys"]}
    assert bravo["gemini"]["source"] == "deployment" and bravo["gemini"]["last4"] is None


@pytest.mark.parametrize(("key", "words"), [
    ("", "empty"), ("   ", "empty"), ("AIza with spaces inside", "spaces"),
    ("AIzaLine\nBreak", "spaces"), ("AIza\x00Nul-char", "control"), ("k" * 600, "at most"),
    ("short", "at least"), ("AIzaКлючКириллица", "ASCII"),
])
def test_a_key_that_cannot_be_one_is_a_422_on_its_field(deployment, key, words) -> None:
    d = deployment()
    r = d["alpha"]["client"].put("/api/provider-keys/gemini", json={"key": key})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "key" and words in r.json()["detail"]
    assert "own_key_gemini" not in d["services"].tables.get("tenants", "tenant", "alpha")


def test_only_enabled_providers_that_take_keys_have_one(deployment) -> None:
    d = deployment(enabled_providers=["gemini", "local"])
    alpha = d["alpha"]["client"]
    assert [k["provider"] for k in alpha.get("/api/provider-keys").json()["keys"]] == ["gemini"]
    for provider in ("local", "turbotext", "nonsense"):
        assert alpha.put(f"/api/provider-keys/{provider}",
                         json={"key": ALPHA_TURBOTEXT}).status_code == 404
        assert alpha.post(f"/api/provider-keys/{provider}/check").status_code == 404
    assert httpx.get(d["base"] + "/api/provider-keys").status_code == 401


def test_cross_site_writes_of_a_key_are_refused(deployment) -> None:
    d = deployment()
    alpha = d["alpha"]["client"]
    evil = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    r = alpha.put("/api/provider-keys/gemini", json={"key": ALPHA_GEMINI}, headers=evil)
    assert r.status_code == 403
    assert alpha.delete("/api/provider-keys/gemini", headers=evil).status_code == 403
    assert alpha.post("/api/provider-keys/gemini/check", headers=evil).status_code == 403
    assert alpha.get("/api/provider-keys").json()["keys"][1]["source"] == "deployment"
    assert d["gemini"].list_calls == []


# -- whose key a job calls with ---------------------------------------------------------------------
def test_the_account_key_reaches_gemini_for_booth_and_try_it(deployment) -> None:
    d = deployment()
    alpha, bravo, fake = d["alpha"], d["bravo"], d["gemini"]
    assert alpha["client"].put("/api/provider-keys/gemini",
                               json={"key": ALPHA_GEMINI}).status_code == 200

    assert _upload(alpha, ProviderName.GEMINI).status_code == 200
    assert _try(alpha, "gemini").status_code == 200
    assert fake.keys_used() == [ALPHA_GEMINI, ALPHA_GEMINI]
    # An account without its own key falls back to the deployment's.
    assert _upload(bravo, ProviderName.GEMINI).status_code == 200
    assert _try(bravo, "gemini").status_code == 200
    assert fake.keys_used()[2:] == [DEPLOYMENT_GEMINI, DEPLOYMENT_GEMINI]

    # Removed: the deployment's key is in effect again, and is what the next job uses.
    removed = alpha["client"].delete("/api/provider-keys/gemini")
    assert removed.json() == {"provider": "gemini", "set": True, "last4": None,
                              "source": "deployment", "updated_at": None}
    assert "own_key_gemini" in d["services"].tables.get("tenants", "tenant", "alpha")
    assert _upload(alpha, ProviderName.GEMINI).status_code == 200
    assert fake.keys_used()[-1] == DEPLOYMENT_GEMINI


def test_the_account_key_reaches_turbotext_on_every_call_and_the_download(deployment) -> None:
    d = deployment()
    alpha, fake = d["alpha"], d["turbotext"]
    assert alpha["client"].put("/api/provider-keys/turbotext",
                               json={"key": ALPHA_TURBOTEXT}).status_code == 200
    assert _upload(alpha, ProviderName.TURBOTEXT).status_code == 200
    assert _try(alpha, "turbotext").status_code == 200
    # create_queue and every get_result poll (webhook mode: the safety-net poll) with it …
    assert fake.keys_used() and set(fake.keys_used()) == {ALPHA_TURBOTEXT}
    # … and the result file fetched with the same Bearer header, on Turbotext's own origin.
    assert fake.downloads and all(bearer for _, bearer in fake.downloads)
    calls = len(fake.calls)
    assert _upload(d["bravo"], ProviderName.TURBOTEXT).status_code == 200
    assert set(fake.keys_used()[calls:]) == {DEPLOYMENT_TURBOTEXT}


def test_with_no_key_anywhere_the_slot_saves_and_says_to_add_one(deployment) -> None:
    d = deployment(deployment_keys=False)
    alpha, bravo = d["alpha"], d["bravo"]
    keys = {k["provider"]: k for k in bravo["client"].get("/api/provider-keys").json()["keys"]}
    assert keys["gemini"] == {"provider": "gemini", "set": False, "last4": None, "source": None,
                              "updated_at": None}

    tabs = {t["provider"]: t for t in bravo["client"].get("/api/slots").json()["tabs"]}
    gemini = tabs["gemini"]
    assert gemini["available"] is False and gemini["editable"] is True
    assert gemini["unavailable_code"] == "no_key"
    assert "add your Gemini key" in gemini["unavailable_reason"]
    assert "GEMINI_API_KEY" in gemini["unavailable_reason"]
    assert tabs["local"]["available"] is True

    # Issue 14: a slot on that tab saves, switched off or on; the card says what stops it.
    for enabled in (False, True):
        saved = bravo["client"].put("/api/slots/gemini/2", json={
            "type": "prompt", "prompt": "a hat", "enabled": enabled})
        assert saved.status_code == 200, saved.text
        assert saved.json()["problem_code"] == "no_key"
        assert "add your Gemini key" in saved.json()["problem"]

    # The booth is refused before anything is stored or called, with what to do.
    r = _upload(bravo, ProviderName.GEMINI)
    assert r.status_code == 409 and "add your Gemini key" in r.text
    r = _try(bravo, "gemini")
    assert r.status_code == 409 and "add your Gemini key" in r.json()["detail"]
    assert d["gemini"].keys_seen == []
    check = bravo["client"].post("/api/provider-keys/gemini/check").json()
    assert check["ok"] is False and check["code"] == "no_key"
    assert "add your Gemini key" in check["detail"]

    # An account that adds its own key runs at once; the other is still told to add one.
    assert alpha["client"].put("/api/provider-keys/gemini",
                               json={"key": ALPHA_GEMINI}).status_code == 200
    tab = next(t for t in alpha["client"].get("/api/slots").json()["tabs"]
               if t["provider"] == "gemini")
    assert tab["available"] is True and tab["unavailable_code"] is None
    assert tab["slots"][0]["problem"] is None
    assert _upload(alpha, ProviderName.GEMINI).status_code == 200
    assert d["gemini"].keys_used() == [ALPHA_GEMINI]
    assert _upload(bravo, ProviderName.GEMINI).status_code == 409
    removed = alpha["client"].delete("/api/provider-keys/gemini").json()
    assert removed == {"provider": "gemini", "set": False, "last4": None, "source": None,
                       "updated_at": None}


def test_a_key_sealed_under_another_deployment_key_says_to_enter_it_again(deployment) -> None:
    d = deployment()
    services = d["services"]
    foreign = SecretBox(b"the key before rotation").seal(ALPHA_GEMINI,
                                                        "tenants/alpha/provider_key/gemini")
    services.tables.update("tenants", "tenant", "alpha", set={"own_key_gemini": {
        "sealed": foreign, "last4": ALPHA_GEMINI[-4:], "updated_at": 1.0}})
    alpha = d["alpha"]
    assert alpha["client"].get("/api/provider-keys").status_code == 200  # the console opens
    r = _upload(alpha, ProviderName.GEMINI)
    assert r.status_code == 502 and "enter the key again" in r.text
    assert d["gemini"].keys_seen == []
    check = alpha["client"].post("/api/provider-keys/gemini/check").json()
    assert check["ok"] is False and "enter it again" in check["detail"]


# -- Check key ----------------------------------------------------------------------------------------
def test_check_key_against_gemini_ok_rejected_and_quota(deployment) -> None:
    d = deployment()
    alpha, fake = d["alpha"]["client"], d["gemini"]
    ok = alpha.post("/api/provider-keys/gemini/check")  # the deployment's key, in effect
    assert ok.status_code == 200 and ok.json()["ok"] is True and ok.json()["code"] == "ok"
    assert fake.keys_seen == [("models.list", DEPLOYMENT_GEMINI)]
    assert fake.list_calls == [{"pageSize": "1"}]  # the cheapest: one model, one page

    alpha.put("/api/provider-keys/gemini", json={"key": ALPHA_GEMINI})
    assert alpha.post("/api/provider-keys/gemini/check").json()["code"] == "ok"
    assert fake.keys_seen[-1] == ("models.list", ALPHA_GEMINI)

    alpha.put("/api/provider-keys/gemini", json={"key": WRONG_GEMINI})
    rejected = alpha.post("/api/provider-keys/gemini/check")
    assert rejected.status_code == 200
    assert rejected.json() == {"ok": False, "code": "key_rejected", "detail": INVALID_KEY_MESSAGE}
    assert fake.keys_seen[-1] == ("models.list", WRONG_GEMINI)
    # … and a booth job with that key fails by name, the operator told what to do.
    r = _upload(d["alpha"], ProviderName.GEMINI)
    assert r.status_code == 502
    job = run(d["services"].repo.recent_jobs("alpha", limit=1))[0]
    assert job.reason == "gemini_key_invalid" and "replace it" in job.detail

    alpha.put("/api/provider-keys/gemini", json={"key": ALPHA_GEMINI})
    fake.exhausted.add(ALPHA_GEMINI)
    quota = alpha.post("/api/provider-keys/gemini/check").json()
    assert quota == {"ok": False, "code": "quota", "detail": QUOTA_MESSAGE}


def test_check_key_against_turbotext_ok_rejected_and_no_money(deployment) -> None:
    d = deployment()
    alpha, fake = d["alpha"]["client"], d["turbotext"]
    alpha.put("/api/provider-keys/turbotext", json={"key": ALPHA_TURBOTEXT})
    ok = alpha.post("/api/provider-keys/turbotext/check").json()
    assert ok["ok"] is True and ok["code"] == "ok" and "3 methods" in ok["detail"]
    # available_api asked the two-step way, with the account's key, never faster than 1/s.
    calls = [c for c in fake.calls if c.method == "available_api"]
    assert [c.do for c in calls] == ["create_queue", "get_result", "get_result"]
    assert {c.key for c in calls} == {ALPHA_TURBOTEXT}
    assert all(b.at - a.at >= 0.95 for a, b in zip(calls[1:], calls[2:], strict=False))

    fake.broke.add(ALPHA_TURBOTEXT)
    broke = alpha.post("/api/provider-keys/turbotext/check").json()
    assert broke == {"ok": False, "code": "quota", "detail": NO_MONEY_TEXT}

    alpha.put("/api/provider-keys/turbotext", json={"key": "not-a-turbotext-key-at-all"})
    wrong = alpha.post("/api/provider-keys/turbotext/check").json()
    assert wrong == {"ok": False, "code": "key_rejected", "detail": WRONG_KEY_TEXT}


def test_check_key_when_the_provider_cannot_be_reached(deployment) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    d = deployment(gemini_base_url=closed, turbotext_base_url=closed)
    alpha = d["alpha"]["client"]
    for provider in ("gemini", "turbotext"):
        answer = alpha.post(f"/api/provider-keys/{provider}/check").json()
        assert answer["ok"] is False and answer["code"] == "unreachable", answer
        assert "cannot reach" in answer["detail"]
        assert DEPLOYMENT_GEMINI not in answer["detail"]


def test_check_key_is_throttled_per_account(deployment) -> None:
    d = deployment(key_checks_allowed=2)
    alpha, bravo = d["alpha"]["client"], d["bravo"]["client"]
    assert [alpha.post("/api/provider-keys/gemini/check").status_code for _ in range(2)] == [
        200, 200]
    refused = alpha.post("/api/provider-keys/gemini/check")
    assert refused.status_code == 429 and "too many key checks" in refused.json()["detail"]
    assert int(refused.headers["retry-after"]) > 0
    assert len(d["gemini"].list_calls) == 2  # the refused one never reached Google
    assert bravo.post("/api/provider-keys/gemini/check").status_code == 200  # not bravo's


def test_gemini_keeps_one_client_per_key(deployment) -> None:
    d = deployment()
    alpha = d["alpha"]
    alpha["client"].put("/api/provider-keys/gemini", json={"key": ALPHA_GEMINI})
    for _ in range(3):
        assert _upload(alpha, ProviderName.GEMINI).status_code == 200
        assert _upload(d["bravo"], ProviderName.GEMINI).status_code == 200
    alpha["client"].post("/api/provider-keys/gemini/check")
    pool = d["services"].providers.get(ProviderName.GEMINI)._clients
    assert len(pool) == 2  # alpha's and the deployment's, reused across six jobs and a check


async def test_the_client_pool_closes_the_least_recent_client_once_idle() -> None:
    from shared.providers.gemini import ClientPool

    pool = ClientPool(Settings(gemini_base_url="http://127.0.0.1:9"), size=2)
    closed: list[str] = []
    async with pool.lease("key-one-000") as one:
        one.aio.aclose = lambda: asyncio.sleep(0, closed.append("one"))  # type: ignore[method-assign]
        async with pool.lease("key-two-000"), pool.lease("key-three-0"):
            assert len(pool) == 2 and closed == []  # evicted, but still in use
        assert closed == []
    assert closed == ["one"]  # closed when its last call ended
    await pool.aclose()
