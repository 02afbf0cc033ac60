"""What does the booth pipeline add on top of just receiving and answering an upload?

In one run, against one real server process:
  - echo:  POST /bench/echo  reads the multipart upload and returns the file bytes;
  - booth: POST /u/{token}   the whole pipeline (auth, decode, store original, job items,
           provider, store result, stats) with a zero-time provider that returns the photo.
Alternating requests at 1600 px and 6000×4000; prints medians and the ratio / difference.
Targets (2-core machine): ≤ 1.5× echo at 1600 px, ≤ 400 ms added at 24 MP.

    python benchmarks/ingest_overhead.py [--rounds 15]
"""


import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def zero_time_provider():
    """A provider that answers at once with the prepared photo: measures everything but
    the AI. (Built inside the server process, after sys.path points at the repo.)"""
    from shared.providers.base import BaseProvider, ProviderImage
    from shared.providers.local import LocalProvider

    class ZeroTimeProvider(BaseProvider):
        name = LocalProvider.name
        label = "Zero-time"
        capabilities = LocalProvider.capabilities
        max_side = 2400

        async def run(self, job):
            return ProviderImage(job.photo, job.photo_mime)

    return ZeroTimeProvider()


def serve(port: int, data_dir: str) -> None:
    import uvicorn
    from fastapi import APIRouter, Request, Response

    from functions.app import create_app
    from shared.config import Settings
    from shared.domain import ProviderName
    from shared.services import build_services

    services = build_services(Settings(data_dir=Path(data_dir), enabled_providers=["local"]))
    services.providers.providers[ProviderName.LOCAL] = zero_time_provider()
    echo = APIRouter()

    @echo.post("/bench/echo")
    async def echo_upload(request: Request) -> Response:
        form = await request.form()
        data = await form["fileToUpload"].read()
        return Response(data, media_type="image/jpeg")

    app = create_app(services=services, extra_routers=(echo,))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


async def setup(data_dir: str):
    from shared.config import Settings
    from shared.domain import ProcessingType, ProviderName
    from shared.services import create_tenant, open_repository

    settings = Settings(data_dir=Path(data_dir), enabled_providers=["local"])
    repo = open_repository(settings)
    tenant, _ = await create_tenant(repo, settings, "bench", "bench-pass")
    slot = await repo.get_slot("bench", ProviderName.LOCAL, 1)
    slot.type, slot.enabled = ProcessingType.BACKGROUND, True
    slot.reference_key, slot.reference_mime = "references/bench/local/01.jpg", "image/jpeg"
    await repo.save_slot(slot)
    from shared.signed_links import LinkSigner
    from shared.storage import open_store

    store = open_store(settings, LinkSigner(b"x" * 32))
    from tests.helpers.photos import background

    store.put(slot.reference_key, background(), "image/jpeg")
    return slot.upload_token, tenant.upload_password


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "DATA_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(int(args.serve[0]), args.serve[1])

    from tests.conftest import free_port
    from tests.helpers.photos import dslr_fields, green_screen

    data_dir = tempfile.mkdtemp(prefix="boothai-bench-")
    token, password = asyncio.run(setup(data_dir))
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port), data_dir],
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(timeout=60) as client:
            for _ in range(100):
                try:
                    client.get(base + "/health")
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            print(f"{'photo':>10} {'bytes':>10} {'echo ms':>9} {'booth ms':>9} {'ratio':>6} "
                  f"{'added ms':>9}")
            for label, size, quality in (("1600 px", (1600, 1067), 92),
                                         ("24 MP", (6000, 4000), 95)):
                photo = green_screen(*size, noise=True, quality=quality)
                files = {"fileToUpload": ("IMG_0001.JPG", photo, "image/jpeg")}
                fields = dslr_fields(password)
                timings: dict[str, list[float]] = {"echo": [], "booth": []}
                for i in range(args.rounds + 2):
                    for name, url in (("echo", "/bench/echo"), ("booth", f"/u/{token}")):
                        started = time.perf_counter()
                        response = client.post(base + url, data=fields, files=files)
                        elapsed = (time.perf_counter() - started) * 1000
                        assert response.status_code == 200, response.text
                        if i >= 2:  # the first rounds warm caches and connections
                            timings[name].append(elapsed)
                echo = statistics.median(timings["echo"])
                booth = statistics.median(timings["booth"])
                print(f"{label:>10} {len(photo):>10} {echo:>9.1f} {booth:>9.1f} "
                      f"{booth / echo:>6.2f} {booth - echo:>9.1f}")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
