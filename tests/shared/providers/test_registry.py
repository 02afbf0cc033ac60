"""The provider registry builds enabled providers over ports scoped to each one's ACCESS,
and names what a missing one needs."""

from __future__ import annotations

import pytest

from shared import providers
from shared.access import AccessNotDeclared
from shared.config import Settings
from shared.domain import ProviderName
from shared.gpu.off import OffGpuBackend
from shared.providers import ProviderContext, build_providers, declared_access
from shared.signed_links import LinkSigner
from shared.storage.sqlite_tables import SQLiteTables


def _context(settings: Settings, tables=None) -> ProviderContext:
    return ProviderContext(settings=settings, store=None, tables=tables,  # type: ignore[arg-type]
                           signer=LinkSigner(b"k" * 32), gpu=OffGpuBackend())


def test_missing_client_library_is_reported_with_the_install_to_run(tmp_path,
                                                                    monkeypatch) -> None:
    monkeypatch.setitem(providers.MODULES, ProviderName.GEMINI, "no_such_module_for_test")
    settings = Settings(data_dir=tmp_path, enabled_providers=["gemini", "local"])
    registry = build_providers(_context(settings))
    assert list(registry.providers) == [ProviderName.LOCAL]
    reason = registry.unavailable_reason(ProviderName.GEMINI)
    # Gemini's SDK is a core dependency: the fix is the core install itself.
    assert "no_such_module_for_test" in reason and "pip install -e ." in reason


def test_only_enabled_providers_are_built(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path, enabled_providers=["local"])
    registry = build_providers(_context(settings))
    assert list(registry.providers) == [ProviderName.LOCAL] and registry.unavailable == {}


def test_each_provider_gets_ports_scoped_to_its_own_declaration(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path, enabled_providers=["turbotext"],
                        turbotext_api_key="k", public_base_url="https://booth.example")
    tables = SQLiteTables(tmp_path / "t.sqlite3")
    turbotext = build_providers(_context(settings, tables)).providers[ProviderName.TURBOTEXT]
    signals_tables = turbotext._signals._tables  # what its JobSignals reads through
    assert signals_tables.get("lookups", "hook#x", "-") is None  # declared: lookups read
    with pytest.raises(AccessNotDeclared, match="provider turbotext needs read on table 'jobs'"):
        signals_tables.get("jobs", "t", "1")


def test_the_declared_union_covers_every_provider() -> None:
    access = declared_access()
    assert access.tables == {"lookups": "read"}  # Turbotext's webhook signals
    assert set(access.objects) == {"inputs/", "references/"}
