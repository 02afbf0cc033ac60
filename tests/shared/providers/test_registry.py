"""The provider registry builds enabled providers and names what a missing one needs."""

from __future__ import annotations

from shared import providers
from shared.config import Settings
from shared.domain import ProviderName
from shared.providers import ProviderContext, build_providers


def test_missing_client_library_is_reported_with_its_extra(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(providers.MODULES, ProviderName.GEMINI, "no_such_module_for_test")
    settings = Settings(data_dir=tmp_path, enabled_providers=["gemini", "local"])
    registry = build_providers(ProviderContext(settings=settings, store=None, tables=None,
                                               signer=None))
    assert list(registry.providers) == [ProviderName.LOCAL]
    reason = registry.unavailable[ProviderName.GEMINI]
    assert "no_such_module_for_test" in reason and ".[cloud]" in reason


def test_only_enabled_providers_are_built(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path, enabled_providers=["local"])
    registry = build_providers(ProviderContext(settings=settings, store=None, tables=None,
                                               signer=None))
    assert list(registry.providers) == [ProviderName.LOCAL] and registry.unavailable == {}
