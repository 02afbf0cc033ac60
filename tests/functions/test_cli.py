"""The `boothai` command as an operator runs it: a real process, real environment."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx

from tests.conftest import free_port


def boothai(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "functions.cli", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_tenant_commands(tmp_path) -> None:
    env = {**os.environ, "BOOTHAI_DATA_DIR": str(tmp_path / "data")}
    added = boothai("tenant", "add", "venue-1", "--password", "first-pass", env=env)
    assert added.returncode == 0, added.stderr
    assert "booth upload password:" in added.stdout
    assert "first-pass" not in added.stdout + added.stderr
    generated = boothai("tenant", "add", "venue-2", env=env)
    assert "password:" in generated.stdout
    duplicate = boothai("tenant", "add", "venue-1", "--password", "x", env=env)
    assert duplicate.returncode == 2 and "already exists" in duplicate.stderr
    assert boothai("tenant", "list", env=env).stdout.split() == ["venue-1", "venue-2"]
    assert boothai("tenant", "passwd", "venue-1", "--password", "second", env=env).returncode == 0
    bad = boothai("tenant", "add", "Bad Name!", "--password", "x", env=env)
    assert bad.returncode == 2 and "lowercase" in bad.stderr


def test_serve_creates_admin_on_first_start(tmp_path) -> None:
    port = free_port()
    env = {**os.environ, "BOOTHAI_DATA_DIR": str(tmp_path / "data"),
           "BOOTHAI_ENABLED_PROVIDERS": "local"}
    env.pop("BOOTHAI_ADMIN_PASSWORD", None)
    proc = subprocess.Popen([sys.executable, "-m", "functions.cli", "serve", "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "operator UI at" in line:
                break
        output = "".join(lines)
        password = next(ln.split("password:")[1].split()[0] for ln in lines
                        if "  password:" in ln and "upload" not in ln)
        assert "created operator account 'admin'" in output
        for _ in range(100):
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/slots", auth=("admin", password))
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        assert r.status_code == 200 and len(r.json()["tabs"][0]["slots"]) == 20
    finally:
        proc.terminate()
        proc.wait(timeout=10)
