"""Event galleries over a live server (issue 15, item 3): the operator makes, lists and
revokes a gallery of some of the account's own slots; its public page (no credentials) shows
the thumbnails of those slots' done booth photos of the event, newest first, 60 a page, each
opening the photo with a download; Try it runs, failed jobs, other slots and other times
never show; expired (by a moved clock, and by the stored TTL) and revoked galleries are the
share page's one 404; another account's job id through a token is that 404 too; no page
names a slot token, a password or an object key; "download all"'s list pages through every
photo with the console's own download links."""

from __future__ import annotations

import re
import secrets
import time
from datetime import UTC, datetime

import httpx
import pytest

from shared import object_keys
from shared.domain import Job, JobSource, JobStatus, ProviderName, new_job_id, utc_day
from shared.galleries import DAY, MAX_SLOTS, PAGE_SIZE, Gallery, job_id_at, photos
from shared.services import Services
from tests.conftest import run
from tests.helpers import photos as pictures
from tests.helpers.booth import local_booth


@pytest.fixture
def booth(services: Services, live_server):
    tenant, slot = run(local_booth(services, password="acme-pass", fallback=False))
    rival, rival_slot = run(local_booth(services, "rival", password="rival-pass"))
    # acme's second Local slot, set up the same way: a gallery of slot 1 must not show it.
    second = run(services.repo.get_slot("acme", ProviderName.LOCAL, 2))
    second.type, second.enabled = slot.type, True
    second.reference_key, second.reference_mime = slot.reference_key, slot.reference_mime
    run(services.repo.save_slot(second))
    acme = httpx.Client(base_url=live_server.url, auth=("acme", "acme-pass"), timeout=60)
    rival_client = httpx.Client(base_url=live_server.url, auth=("rival", "rival-pass"),
                                timeout=60)
    guest = httpx.Client(base_url=live_server.url, timeout=60)  # no credentials at all
    yield {"url": f"{live_server.url}/u/{slot.upload_token}", "slot": slot, "tenant": tenant,
           "second_url": f"{live_server.url}/u/{second.upload_token}", "second": second,
           "rival_url": f"{live_server.url}/u/{rival_slot.upload_token}", "rival": rival,
           "rival_slot": rival_slot, "services": services, "acme": acme,
           "rival_client": rival_client, "guest": guest}
    for client in (acme, rival_client, guest):
        client.close()


# -- helpers ---------------------------------------------------------------------------------------
def _upload(url: str, password: str, photo: bytes) -> str | None:
    response = httpx.post(url, data=pictures.dslr_fields(password),
                          files={"fileToUpload": ("IMG_0001.JPG", photo, "image/jpeg")},
                          timeout=60)
    assert response.status_code in (200, 502), response.text
    return response.headers.get("x-boothai-job")


def _closed(services: Services, tenant: str, job_id: str) -> Job:
    """The job once its bookkeeping is done: a done one's thumbnail made, a failed one's
    original moved to trash/."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        job = run(services.repo.get_job(tenant, job_id))
        if job and job.status is JobStatus.DONE and services.store.head(
                object_keys.thumbnail(job.result_key)):
            return job
        if job and job.status is JobStatus.FAILED and job.original_key.startswith("trash/"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never closed")


def _booth_photo(booth, url: str | None = None, *, tenant: str = "acme",
                 photo: bytes | None = None) -> Job:
    password = (booth["rival"] if tenant == "rival" else booth["tenant"]).upload_password
    job_id = _upload(url or booth["url"], password, photo or pictures.green_screen(900, 600))
    if job_id is None:  # a failed job's 502 names none: the newest job is it
        [job] = run(booth["services"].repo.recent_jobs(tenant, limit=1))
        job_id = job.job_id
    return _closed(booth["services"], tenant, job_id)


def _stored_job(services: Services, tenant: str = "acme", *, at: float, index: int = 1,
                source: JobSource = JobSource.BOOTH,
                status: JobStatus = JobStatus.DONE) -> Job:
    """A job written straight to the store as the pipeline leaves one (id from its time),
    with a small result: many of them, fast, at any time."""
    job_id = f"{int(at * 1000):013x}{secrets.token_hex(5)}"
    job = Job(tenant=tenant, job_id=job_id, provider=ProviderName.LOCAL, slot_index=index,
              source=source, status=status, created_at=at)
    if status is JobStatus.DONE:
        job.result_key = f"results/{tenant}/{utc_day(at)}/{job_id}.jpg"
        services.store.put(job.result_key, pictures.background(48, 32), "image/jpeg")
    run(services.repo.put_job(job))
    return job


def _make(client: httpx.Client, **body) -> dict:
    body.setdefault("name", "Anna & Max")
    body.setdefault("slots", ["local#01"])
    made = client.post("/api/galleries", json=body)
    assert made.status_code == 201, made.text
    return made.json()


def _token(gallery: dict) -> str:
    return gallery["url"].rsplit("/", 1)[1]


def _shown(guest: httpx.Client, token: str, before: str | None = None) -> tuple[list[str], str | None]:
    """The job ids a gallery page shows, in order, and its "older photos" cursor."""
    page = guest.get(f"/g/{token}", params={"before": before} if before else None)
    assert page.status_code == 200, page.text
    ids = re.findall(rf'<a class="thumb" href="/g/{re.escape(token)}/p/([0-9a-f]+)">', page.text)
    older = re.search(rf'href="/g/{re.escape(token)}\?before=([0-9a-f]+)"', page.text)
    return ids, older.group(1) if older else None


# -- the page ----------------------------------------------------------------------------------------
def test_a_gallery_shows_its_slots_done_booth_photos_newest_first(booth) -> None:
    services, guest, acme = booth["services"], booth["guest"], booth["acme"]
    first = _booth_photo(booth)
    failed = _booth_photo(booth, photo=pictures.plain_photo(800, 600))  # no screen: fails
    assert failed.status is JobStatus.FAILED
    tried = acme.post("/api/slots/local/1/test",
                      files={"file": ("t.jpg", pictures.green_screen(640, 480), "image/jpeg")})
    assert tried.status_code == 200, tried.text
    other_slot = _booth_photo(booth, booth["second_url"])
    second = _booth_photo(booth)

    gallery = _make(acme)
    token = _token(gallery)
    ids, older = _shown(guest, token)
    assert ids == [second.job_id, first.job_id] and older is None
    for hidden in (failed.job_id, tried.headers["x-boothai-job"], other_slot.job_id):
        for kind in ("p", "i", "t"):
            assert guest.get(f"/g/{token}/{kind}/{hidden}").status_code == 404, (kind, hidden)

    page = guest.get(f"/g/{token}")
    assert "<h1>Anna &amp; Max</h1>" in page.text and "<title>Anna &amp; Max</title>" in page.text
    assert "This gallery is available until" in page.text and "<script" not in page.text
    thumb = guest.get(f"/g/{token}/t/{first.job_id}")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.content == services.store.get(object_keys.thumbnail(first.result_key))

    # One photo's page: the picture, a download, the arrows to its neighbours.
    one = guest.get(f"/g/{token}/p/{first.job_id}")
    assert one.status_code == 200
    assert f'src="/g/{token}/i/{first.job_id}"' in one.text
    assert f'href="/g/{token}/i/{first.job_id}?download=1" download' in one.text
    assert f'rel="prev" href="/g/{token}/p/{second.job_id}"' in one.text
    assert 'rel="next"' not in one.text  # the oldest photo
    newest = guest.get(f"/g/{token}/p/{second.job_id}")
    assert 'rel="prev"' not in newest.text
    assert f'rel="next" href="/g/{token}/p/{first.job_id}"' in newest.text
    result = services.store.get(first.result_key)
    assert guest.get(f"/g/{token}/i/{first.job_id}").content == result
    download = guest.get(f"/g/{token}/i/{first.job_id}", params={"download": 1})
    assert download.content == result
    assert download.headers["content-disposition"] == \
        f'attachment; filename="photo-{first.job_id}.jpg"'

    russian = guest.get(f"/g/{token}", headers={"Accept-Language": "ru-RU,ru;q=0.9"})
    assert '<html lang="ru">' in russian.text and "Галерея доступна до" in russian.text
    ru_photo = guest.get(f"/g/{token}/p/{first.job_id}", headers={"Accept-Language": "ru"})
    assert "Скачать фото" in ru_photo.text


def test_a_gallery_of_two_slots_shows_both(booth) -> None:
    one, two = _booth_photo(booth), _booth_photo(booth, booth["second_url"])
    token = _token(_make(booth["acme"], slots=["local#02", "LOCAL#01", "local#02"]))
    gallery = booth["acme"].get("/api/galleries").json()["galleries"][0]
    assert gallery["slots"] == ["local#02", "local#01"]  # as named, each once
    assert _shown(booth["guest"], token)[0] == [two.job_id, one.job_id]


def test_an_empty_gallery_says_photos_will_come(booth) -> None:
    token = _token(_make(booth["acme"]))
    page = booth["guest"].get(f"/g/{token}")
    assert page.status_code == 200 and "No photos here yet" in page.text
    assert booth["guest"].get(f"/g/{token}", headers={"Accept-Language": "ru"}).text.count(
        "Фото пока нет") == 1


def test_pages_of_sixty_continue_with_before(booth) -> None:
    services, guest = booth["services"], booth["guest"]
    start = time.time() - 3600
    covered = []
    for n in range(130):  # among them jobs the gallery never shows
        at = start + n * 10
        if n % 7 == 3:
            _stored_job(services, at=at, source=JobSource.TEST)
        elif n % 7 == 5:
            _stored_job(services, at=at, index=2)
        elif n % 11 == 4:
            _stored_job(services, at=at, status=JobStatus.FAILED)
        else:
            covered.append(_stored_job(services, at=at).job_id)
    newest_first = covered[::-1]
    token = _token(_make(booth["acme"], since=start - 1))
    seen, before, pages = [], None, 0
    while True:
        ids, before = _shown(guest, token, before)
        pages += 1
        assert len(ids) == min(PAGE_SIZE, len(newest_first) - len(seen))
        seen += ids
        if before is None:
            break
    assert seen == newest_first and pages == 2 + (len(covered) > 2 * PAGE_SIZE)
    last = guest.get(f"/g/{token}", params={"before": covered[0]})
    assert "No older photos." in last.text and "Newest photos" in last.text
    for bad in ("zz", "../x", "a" * 41):
        assert guest.get(f"/g/{token}", params={"before": bad}).status_code == 404

    # "Download all"'s list: every photo, with the console's own link to its result.
    gallery_id = booth["acme"].get("/api/galleries").json()["galleries"][0]["gallery_id"]
    listed = booth["acme"].get(f"/api/galleries/{gallery_id}/photos").json()
    assert [p["job_id"] for p in listed["photos"]] == newest_first and listed["next"] is None
    sample = listed["photos"][5]
    assert sample["slot"] == "local#01" and sample["download_url"] == \
        f"/api/jobs/{sample['job_id']}/result?download=1"
    got = booth["acme"].get(sample["download_url"])
    job = run(services.repo.get_job("acme", sample["job_id"]))
    assert got.status_code == 200 and got.content == services.store.get(job.result_key)
    assert booth["acme"].get(f"/api/galleries/{gallery_id}/photos",
                             params={"before": "no/such"}).status_code == 422


def test_a_walk_that_reads_its_limit_ends_early_and_continues(booth) -> None:
    """Read bounded per page: with 3 jobs read at most, a page ends early and says where to
    go on; followed, the pages give every photo exactly once."""
    services = booth["services"]
    start = time.time() - 600
    made = [_stored_job(services, at=start + n, index=1 if n % 3 == 0 else 2)
            for n in range(20)]
    covered = [j.job_id for j in made if j.slot_index == 1][::-1]
    gallery = Gallery(token="t", gallery_id="g", tenant="acme", name="x", slots=("local#01",),
                      since=start - 1, until=None, created_at=start, expires_at=2**40)
    seen, before, steps = [], None, 0
    while True:
        page = run(photos(services.repo, gallery, before=before, limit=2, max_scan=3))
        assert len(page.jobs) <= 2
        seen += [j.job_id for j in page.jobs]
        steps += 1
        before = page.older
        if before is None:
            break
    assert seen == covered and steps >= len(made) // 3


def test_the_event_time_bounds_the_photos(booth) -> None:
    services = booth["services"]
    event = time.time() - 5 * DAY
    before_it = _stored_job(services, at=event - 3600)
    during = [_stored_job(services, at=event + n * 600) for n in range(3)]
    after_it = _stored_job(services, at=event + DAY)
    token = _token(_make(booth["acme"], since=event, until=event + 6 * 3600))
    assert _shown(booth["guest"], token)[0] == [j.job_id for j in during[::-1]]
    for job in (before_it, after_it):
        assert booth["guest"].get(f"/g/{token}/p/{job.job_id}").status_code == 404
    # Unbounded at its end: later photos keep coming.
    open_token = _token(_make(booth["acme"], since=event))
    assert _shown(booth["guest"], open_token)[0][0] == after_it.job_id


def test_job_ids_bound_walks_by_time() -> None:
    now = time.time()
    made = new_job_id()
    assert job_id_at(now - 1) < made < job_id_at(now + 1)


# -- the operator's API -------------------------------------------------------------------------------
def test_make_list_and_revoke(booth) -> None:
    acme, guest, services = booth["acme"], booth["guest"], booth["services"]
    made = _make(acme, days=3)
    token = _token(made)
    assert made["url"] == f"{acme.base_url}/g/{token}"
    assert len(token) >= 32 and re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert abs(made["expires_at"] - (time.time() + 3 * DAY)) < 60
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert made["since"] == midnight.timestamp() and made["until"] is None
    assert made["name"] == "Anna & Max" and made["slots"] == ["local#01"]
    later = _make(acme, name="Second", slots=["local#02"])
    assert [g["gallery_id"] for g in acme.get("/api/galleries").json()["galleries"]] == \
        [later["gallery_id"], made["gallery_id"]]  # newest first
    assert abs(later["expires_at"] - (time.time() + 7 * DAY)) < 60  # 7 days unless said

    # The stored items carry the TTL attribute, and nothing else about the gallery is kept.
    by_token = services.tables.get("lookups", f"gallery#{token}", "-")
    by_account = services.tables.get("lookups", "galleries#acme", made["gallery_id"])
    assert by_token["expires_at"] == by_account["expires_at"] == made["expires_at"]
    assert isinstance(by_token["expires_at"], int) and by_token["tenant"] == "acme"

    assert guest.get(f"/g/{token}").status_code == 200
    assert acme.delete(f"/api/galleries/{made['gallery_id']}").status_code == 204
    assert guest.get(f"/g/{token}").status_code == 404
    assert services.tables.get("lookups", f"gallery#{token}", "-") is None
    assert [g["gallery_id"] for g in acme.get("/api/galleries").json()["galleries"]] == \
        [later["gallery_id"]]
    again = acme.delete(f"/api/galleries/{made['gallery_id']}")
    assert again.status_code == 404 and again.json()["code"] == "not_found"
    assert acme.get(f"/api/galleries/{made['gallery_id']}/photos").status_code == 404


@pytest.mark.parametrize("body, field", [
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"days": 0}, "days"),
    ({"days": 91}, "days"),
    ({"slots": []}, "slots"),
    ({"slots": ["local#21"]}, "slots"),
    ({"slots": ["local#1"]}, "slots"),
    ({"slots": ["gemini#01"]}, "slots"),  # a tab this server does not have
    ({"slots": [f"local#{n:02d}" for n in range(1, MAX_SLOTS + 2)]}, "slots"),
    ({"since": 2000.0, "until": 1000.0}, "until"),
])
def test_bad_galleries_are_refused_naming_the_field(booth, body, field) -> None:
    got = booth["acme"].post("/api/galleries", json={"name": "E", "slots": ["local#01"], **body})
    assert got.status_code == 422, got.text
    assert got.json()["field"] == field
    assert booth["acme"].get("/api/galleries").json()["galleries"] == []


def test_an_account_holds_at_most_a_hundred_live_galleries(booth) -> None:
    from shared.galleries import MAX_GALLERIES

    galleries = booth["services"].console.galleries
    for n in range(MAX_GALLERIES):
        run(galleries.create(tenant="acme", name=f"E{n}", slots=["local#01"], days=1))
    refused = booth["acme"].post("/api/galleries", json={"name": "One more",
                                                         "slots": ["local#01"]})
    assert refused.status_code == 422 and refused.json()["code"] == "too_many_galleries"
    assert len(booth["acme"].get("/api/galleries").json()["galleries"]) == MAX_GALLERIES
    # Another account is not held to acme's count.
    assert booth["rival_client"].post("/api/galleries", json={
        "name": "Theirs", "slots": ["local#01"]}).status_code == 201


def test_the_api_needs_the_operator(booth) -> None:
    guest = booth["guest"]
    assert guest.get("/api/galleries").status_code == 401
    assert guest.post("/api/galleries", json={"name": "E", "slots": ["local#01"]}).status_code \
        == 401


# -- expiry, revocation, other accounts: one 404 ------------------------------------------------------
def _same_404(guest: httpx.Client, token: str, job_id: str) -> None:
    unknown = guest.get("/g/" + "A" * 32)
    assert unknown.status_code == 404 and "Page not found" in unknown.text
    for path in (f"/g/{token}", f"/g/{token}/p/{job_id}", f"/g/{token}/i/{job_id}",
                 f"/g/{token}/t/{job_id}", f"/g/{token}/i/{job_id}?download=1"):
        got = guest.get(path)
        assert got.status_code == 404, path
        assert got.text == unknown.text and got.headers["content-type"] == \
            "text/html; charset=utf-8"


def test_expired_by_a_moved_clock_or_by_the_stored_ttl_is_the_same_404(booth) -> None:
    services, guest, acme = booth["services"], booth["guest"], booth["acme"]
    job = _booth_photo(booth)
    made = _make(acme, days=2)
    token = _token(made)
    assert guest.get(f"/g/{token}/p/{job.job_id}").status_code == 200

    # Three days on (the console and the page each read their own clock).
    real = time.time
    later = lambda: real() + 3 * DAY  # noqa: E731
    services.console.galleries.clock = later
    services.gallery_pages.galleries.clock = later
    try:
        _same_404(guest, token, job.job_id)
        assert acme.get("/api/galleries").json()["galleries"] == []
        assert acme.get(f"/api/galleries/{made['gallery_id']}/photos").status_code == 404
    finally:
        services.console.galleries.clock = real
        services.gallery_pages.galleries.clock = real
    assert guest.get(f"/g/{token}").status_code == 200  # back to today: still live

    # The stored expiry in the past, as the TTL attribute would have it.
    for pk, sk in ((f"gallery#{token}", "-"), ("galleries#acme", made["gallery_id"])):
        item = services.tables.get("lookups", pk, sk)
        services.tables.put("lookups", {**item, "expires_at": int(time.time()) - 1})
    _same_404(guest, token, job.job_id)
    assert acme.get("/api/galleries").json()["galleries"] == []


def test_revoked_is_the_same_404(booth) -> None:
    job = _booth_photo(booth)
    made = _make(booth["acme"])
    assert booth["acme"].delete(f"/api/galleries/{made['gallery_id']}").status_code == 204
    _same_404(booth["guest"], _token(made), job.job_id)


def test_one_accounts_gallery_never_reaches_anothers_photos(booth) -> None:
    services, guest = booth["services"], booth["guest"]
    mine = _booth_photo(booth)
    theirs = _booth_photo(booth, booth["rival_url"], tenant="rival")
    made = _make(booth["acme"])
    token = _token(made)
    # acme's token with the rival's job id (of the same slot number, the same day): 404.
    for kind in ("p", "i", "t"):
        assert guest.get(f"/g/{token}/{kind}/{theirs.job_id}").status_code == 404, kind
    assert _shown(guest, token)[0] == [mine.job_id]
    # The rival's own gallery of its "local#01" is its own photos only.
    rival_made = _make(booth["rival_client"])
    assert _shown(guest, _token(rival_made))[0] == [theirs.job_id]
    for kind in ("p", "i", "t"):
        assert guest.get(f"/g/{_token(rival_made)}/{kind}/{mine.job_id}").status_code == 404
    # Neither sees, lists or revokes the other's gallery.
    rival = booth["rival_client"]
    assert [g["gallery_id"] for g in rival.get("/api/galleries").json()["galleries"]] == \
        [rival_made["gallery_id"]]
    assert rival.get(f"/api/galleries/{made['gallery_id']}/photos").status_code == 404
    assert rival.delete(f"/api/galleries/{made['gallery_id']}").status_code == 404
    assert guest.get(f"/g/{token}").status_code == 200
    # A slot can be named only as the caller's own: acme's upload token, or acme's name in
    # it, is no slot.
    for named in (booth["slot"].upload_token, "acme/local#01", "local#01@acme", "acme#local#01"):
        got = rival.post("/api/galleries", json={"name": "Steal", "slots": [named]})
        assert got.status_code == 422 and got.json()["field"] == "slots", named
    listed = rival.get(f"/api/galleries/{rival_made['gallery_id']}/photos").json()
    assert [p["job_id"] for p in listed["photos"]] == [theirs.job_id]
    assert rival.get(listed["photos"][0]["download_url"]).content == \
        services.store.get(theirs.result_key)
    assert rival.get(f"/api/jobs/{mine.job_id}/result?download=1").status_code == 404


def test_the_pages_are_public_strict_and_leak_nothing(booth) -> None:
    job = _booth_photo(booth)
    made = _make(booth["acme"])
    token = _token(made)
    secrets_ = [booth["slot"].upload_token, booth["second"].upload_token,
                booth["tenant"].upload_password, "acme-pass", job.result_key, job.original_key,
                "acme", "results/", "originals/", "local#01", made["gallery_id"]]
    for path in (f"/g/{token}", f"/g/{token}/p/{job.job_id}", f"/g/{token}/i/{job.job_id}",
                 f"/g/{token}/t/{job.job_id}", f"/g/{token}/i/{job.job_id}?download=1",
                 "/g/" + "x" * 32, f"/g/{token}/p/{'0' * 20}"):
        got = booth["guest"].get(path, headers={"Sec-Fetch-Site": "cross-site"})
        assert got.status_code in (200, 404), path
        text = got.text if got.headers["content-type"].startswith("text/") else ""
        headers = " ".join(f"{k}: {v}" for k, v in got.headers.items())
        for secret in secrets_:
            assert secret not in text and secret not in headers, (path, secret)
        assert "www-authenticate" not in got.headers
        policy = got.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert "script-src" not in policy
        assert got.headers["referrer-policy"] == "no-referrer"
        assert got.headers["x-robots-tag"].startswith("noindex")
        assert got.headers["cache-control"] == "no-store"
    # Only results are served: the original of a gallery photo is not reachable by any path.
    original = booth["services"].store.get(job.original_key)
    for path in (f"/g/{token}/o/{job.job_id}", f"/g/{token}/original/{job.job_id}",
                 f"/g/{token}/i/{job.job_id}?which=original"):
        assert booth["guest"].get(path).content != original, path


# -- on AWS: DynamoDB and S3 (moto over HTTP) -----------------------------------------------------------
def test_on_dynamodb_the_items_expire_by_ttl_and_the_walk_pages(aws_settings) -> None:
    """The same gallery on the AWS adapters: both lookups items carry `expires_at` as a
    number (the LookupsTable's TTL attribute), past it nothing opens even before DynamoDB's
    sweep, and the walk pages through jobs with DynamoDB's own ExclusiveStartKey."""
    import asyncio

    import boto3

    from shared.galleries import Galleries
    from shared.services import build_services

    services = build_services(aws_settings)
    try:
        run(services.create_tenant("acme", "pw-acme"))
        start = time.time() - 600
        made = [_stored_job(services, at=start + n, index=1 + n % 2) for n in range(9)]
        now = time.time()
        galleries = Galleries(services.tables, clock=lambda: now)
        gallery = run(galleries.create(tenant="acme", name="Party", slots=["local#01"], days=3,
                                       since=start - 1))
        client = boto3.client("dynamodb", endpoint_url=aws_settings.dynamodb_endpoint_url,
                              region_name="us-east-1")
        for pk, sk in ((f"gallery#{gallery.token}", "-"), ("galleries#acme", gallery.gallery_id)):
            raw = client.get_item(TableName=f"{aws_settings.table_prefix}lookups",
                                  Key={"pk": {"S": pk}, "sk": {"S": sk}})["Item"]
            assert raw["expires_at"] == {"N": str(int(now + 3 * DAY))}
        assert run(galleries.open(gallery.token)) == gallery
        assert run(galleries.list("acme")) == [gallery]

        covered = [j.job_id for j in made if j.slot_index == 1][::-1]
        first = run(photos(services.repo, gallery, limit=3))
        rest = run(photos(services.repo, gallery, before=first.older, limit=3))
        assert [j.job_id for j in first.jobs + rest.jobs] == covered and rest.older is None

        later = Galleries(services.tables, clock=lambda: gallery.expires_at + 1)
        assert run(later.open(gallery.token)) is None and run(later.list("acme")) == []
        assert run(galleries.revoke("acme", gallery.gallery_id)) is True
        assert run(galleries.open(gallery.token)) is None
    finally:
        asyncio.run(services.aclose())
