"""No secret of the test suite appears in any log record the suite produced. Runs last
(ordered by tests/security/conftest.py), so it sees every record of the session."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import TEST_ADMIN_PASSWORD
from tests.security.conftest import LOG_LINES, PASSWORDS, SECRETS

# Test keys and passwords used across the suite (providers, fakes, operators, booths).
KNOWN = {TEST_ADMIN_PASSWORD, "test-gemini-key", "test-turbotext-key", "faults-gemini-key",
         "restart-gemini-key", "bench-dummy-gemini-key", "bench-admin-pass", "pw-acme",
         *PASSWORDS.values()}
API_KEY = re.compile(r"bth_[A-Za-z0-9_\-]{20,}")
ROOT_LOG = Path(__file__).resolve().parents[2] / "test-output" / "pytest-log.txt"


def test_no_secrets_in_logs() -> None:
    lines = list(LOG_LINES)
    if ROOT_LOG.exists():  # the root conftest's tee, when present
        lines += ROOT_LOG.read_text(errors="replace").splitlines()
    assert lines, "no log records captured: the tee is not installed"
    secrets = {s for s in KNOWN | SECRETS if s and len(s) >= 6}
    leaks = [(secret[:4] + "…", line[:200]) for line in lines for secret in secrets
             if secret in line]
    leaks += [("bth_…", line[:200]) for line in lines if API_KEY.search(line)]
    assert not leaks, leaks[:10]
