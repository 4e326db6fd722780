"""Process and HTTP helpers for tests that run cxstream as a user would: as a separate process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cxstream.process import children as children  # the tests find supervised processes with it

ROOT = Path(__file__).resolve().parents[2]
CXSTREAM = [sys.executable, "-m", "cxstream.cli"]


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def eventually(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` (a hang guard, not a
    performance assertion)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"gave up waiting for {what}: last result {last!r}")


def http_get(url: str, timeout: float = 5.0, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def ready(port: int) -> dict[str, Any] | None:
    status, body = http_get(f"http://127.0.0.1:{port}/readyz")
    return json.loads(body) if status == 200 else None


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CXSTREAM_")}
    full_env.update(env)
    handle = log.open("wb")
    return subprocess.Popen([*CXSTREAM, *args], cwd=ROOT, env=full_env, stdout=handle, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"process {proc.pid} ignored signal {sig} for {timeout} s") from None


def edited_topology(tmp_path: Path, edits: list[tuple[str, str, str]]) -> Path:
    """A copy of the shipped topology under ``tmp_path`` with each (file, old, new) replaced once; every old text
    must be there (a test must not silently run on the shipped values)."""
    import shutil

    shutil.copytree(ROOT / "topologies", tmp_path / "topologies")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    for name, old, new in edits:
        path = tmp_path / "topologies" / name
        text = path.read_text()
        assert old in text, (name, old)
        path.write_text(text.replace(old, new, 1))
    return tmp_path / "topologies"
