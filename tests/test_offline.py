"""A full offline run opens no outbound connection and keeps secrets out of the database."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

# Installed as sitecustomize in the child process: every connect/DNS lookup is logged.
AUDIT_HOOK = """
import os, sys
_log = os.environ["R2D_NET_LOG"]
def _hook(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "urllib.Request",
                 "http.client.connect"):
        with open(_log, "a") as handle:
            handle.write(f"{event} {args!r}\\n")
sys.addaudithook(_hook)
"""


def _non_local(line: str) -> bool:
    return not any(local in line for local in ("127.0.0.1", "'localhost'", "::1", "AF_UNIX", "/"))


def test_offline_run_makes_no_outbound_connection(tmp_path: Path, tiny_model_dir: Path, data_dir: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(AUDIT_HOOK)
    log = tmp_path / "net.log"
    recipe = tmp_path / "offline.yaml"
    recipe.write_text(f"""
name: offline
models:
  target:
    model: local/{tiny_model_dir}
    generation: {{max_tokens: 4}}
  judge:
    model: openai/gpt-4o-mini
    api_key: ${{FAKE_SECRET_KEY}}
    params: {{mock_response: "safe"}}
datasets:
  - name: jbb-harmful
    limit: 3
attacks: [direct]
defenses: [none]
judges: [refusal-string]
""")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LITELLM", "HF_", "TRANSFORMERS"))}
    env.update(PYTHONPATH=str(site), R2D_NET_LOG=str(log), R2D_DATA_DIR=str(data_dir),
               FAKE_SECRET_KEY="sk-test-secret-value-123")
    result = subprocess.run([sys.executable, "-m", "r2d_sdk.cli", "run", str(recipe), "--db", str(tmp_path / "r.db"),
                             "--quiet"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    attempts = log.read_text().splitlines() if log.exists() else []
    assert not [line for line in attempts if _non_local(line)], attempts
    # The key was used to build the judge model, but neither the database nor the output holds it.
    dump = "\n".join(sqlite3.connect(tmp_path / "r.db").iterdump())
    assert "sk-test-secret-value-123" not in dump and "sk-test-secret-value-123" not in result.stdout
    assert "${FAKE_SECRET_KEY}" in dump  # the recipe is stored as written


def test_the_audit_hook_sees_connections(tmp_path: Path) -> None:
    # Guards the test above against passing because nothing was being watched.
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(AUDIT_HOOK)
    log = tmp_path / "net.log"
    env = {**os.environ, "PYTHONPATH": str(site), "R2D_NET_LOG": str(log)}
    subprocess.run([sys.executable, "-c", "import socket; socket.getaddrinfo('localhost', 80)"], env=env, check=True)
    assert "socket.getaddrinfo" in log.read_text()
