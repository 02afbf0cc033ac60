"""Unloading a vision model (DELETE /models/{id}) stalls every tenant's next call, so only
the operators named in BOOTHAI_GPU_ADMINS may do it; with none named, nobody may. Through
the real HTTP API, two tenants' API keys, the in-process GPU backend (nothing is loaded, so
no model weights are needed: an allowed unload answers `unloaded: false`)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from shared.apikeys import ApiKeys
from shared.config import Settings
from shared.services import build_services


def _server(tmp_path, live_server_factory, gpu_admins: str):
    settings = Settings(data_dir=tmp_path / "data", enabled_providers=["local"],
                        gpu_backend="inprocess", gpu_admins=gpu_admins)
    services = build_services(settings)
    keys = {}
    for name in ("alpha", "bravo"):
        asyncio.run(services.create_tenant(name, f"{name}-operator-pass"))
        _, keys[name] = asyncio.run(ApiKeys(services.tables).create(name, "ci"))
    server = live_server_factory(services)

    def delete(tenant: str, model: str = "qwen3_vl_2b") -> httpx.Response:
        return httpx.delete(f"{server.url}/models/{model}", timeout=30,
                            headers={"Authorization": f"Bearer {keys[tenant]}"})

    return services, delete


def _refused(r: httpx.Response) -> None:
    assert r.status_code == 403, r.text
    assert set(r.json()) == {"detail"}  # the vision API's {"detail": ...} shape
    assert "BOOTHAI_GPU_ADMINS" in r.json()["detail"]


@pytest.fixture
def cleanup():
    built = []
    yield built.append
    for services in built:
        asyncio.run(services.aclose())


def test_only_named_gpu_admins_may_unload(tmp_path, live_server_factory, cleanup) -> None:
    services, delete = _server(tmp_path, live_server_factory, gpu_admins=" alpha , ops")
    cleanup(services)
    r = delete("alpha")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "success", "message": "Model qwen3_vl_2b was not loaded",
                        "unloaded": False}
    _refused(delete("bravo"))
    _refused(delete("bravo", "gpt-9"))  # refused before the name: no catalogue probing
    assert delete("alpha", "gpt-9").status_code == 404


def test_nobody_may_unload_when_no_gpu_admin_is_named(tmp_path, live_server_factory,
                                                      cleanup) -> None:
    services, delete = _server(tmp_path, live_server_factory, gpu_admins="")
    cleanup(services)
    for tenant in ("alpha", "bravo"):
        _refused(delete(tenant))


def test_an_admins_name_without_its_key_is_not_enough(tmp_path, live_server_factory,
                                                       cleanup) -> None:
    services, delete = _server(tmp_path, live_server_factory, gpu_admins="alpha")
    cleanup(services)
    url = str(delete("alpha").request.url)
    assert httpx.delete(url, headers={"Authorization": "Bearer not-a-key"}).status_code == 401
