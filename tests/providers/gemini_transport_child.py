"""Run GeminiProvider.run() in a fresh interpreter on one HTTP backend of google-genai, and
print one JSON line per case: what the caller got (a ProviderFailed reason, or the type of
whatever else escaped), how long it took, and which transport the SDK really used.

    python -m tests.providers.gemini_transport_child BACKEND CASES_JSON

BACKEND is "aiohttp", "httpx2" or "httpx". google-genai picks aiohttp for async calls
whenever it can import it; a core install (`pip install -e .`) has no aiohttp, and the SDK
then uses httpx2, or httpx with GOOGLE_GENAI_HTTP_CLIENT=httpx. Hiding aiohttp from the
import system before anything imports it is exactly that install, as far as both the SDK
and our provider can tell. The network I/O is the real SDK over the real transport.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time


def _choose_backend(backend: str) -> None:
    if backend != "aiohttp":
        sys.modules["aiohttp"] = None  # type: ignore[assignment]  # import aiohttp → ImportError
        os.environ["GOOGLE_GENAI_HTTP_CLIENT"] = backend
    else:
        os.environ.pop("GOOGLE_GENAI_HTTP_CLIENT", None)


def _transport_of(provider, key: str) -> str:
    import httpx
    import httpx2

    api = provider._clients.client(key)._api_client
    if api._use_aiohttp():
        return "aiohttp"
    client = api._async_httpx_client
    if isinstance(client, httpx2.AsyncClient):
        return "httpx2"
    return "httpx" if isinstance(client, httpx.AsyncClient) else type(client).__qualname__


async def _run_case(case: dict) -> dict:
    from shared.config import Settings
    from shared.errors import ProviderFailed
    from shared.providers.gemini import GeminiProvider
    from tests.providers.conftest import image_bytes, make_job

    settings = Settings(gemini_api_key=case["api_key"], gemini_base_url=case["base_url"],
                        _env_file=None)
    provider = GeminiProvider(settings, retry_min_seconds=case.get("retry_min_seconds", 5.0))
    job = make_job(image_bytes((600, 800)), seconds=case["seconds"])
    started = time.monotonic()
    out: dict = {"name": case["name"], "transport": _transport_of(provider, case["api_key"])}
    try:
        await provider.run(job)
        out["result"] = "image"
    except ProviderFailed as exc:
        out["result"], out["reason"], out["message"] = "failed", exc.reason, str(exc)
    except BaseException as exc:  # what escaped unmapped, by its class
        out["result"] = "escaped"
        out["error"] = f"{type(exc).__module__}.{type(exc).__qualname__}"
    out["elapsed"] = round(time.monotonic() - started, 3)
    await provider.aclose()
    return out


async def _main(cases: list[dict]) -> None:
    for case in cases:
        print(json.dumps(await _run_case(case)), flush=True)


if __name__ == "__main__":
    _choose_backend(sys.argv[1])
    asyncio.run(_main(json.loads(sys.argv[2])))
