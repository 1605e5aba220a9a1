"""Headless Chromium over the DevTools protocol, standard library only.

For the browser tests, the map benchmark and the README screenshots: open a page with the
network cut off, read console errors and live JavaScript state, take a screenshot. Not a
public API. Needs a Chromium binary (``chromium``, ``chromium-browser``, ``google-chrome``
or the ``SITING_CHROMIUM`` environment variable); nothing is downloaded.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

#: flags that keep Chromium quiet, sandboxed from the user's profile, and offline
OFFLINE_FLAGS = (
    "--proxy-server=127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)
BASE_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
)


def find_chromium() -> str | None:
    """Path of a Chromium-like browser, or None."""
    env = os.environ.get("SITING_CHROMIUM")
    if env:
        return env if Path(env).is_file() else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


class _WebSocket:
    """The client half of RFC 6455, enough for DevTools (text frames, no extensions)."""

    def __init__(self, url: str, timeout_s: float) -> None:
        rest = url.split("://", 1)[1]
        hostport, path = rest.split("/", 1)
        host, port = hostport.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout_s)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                msg = "DevTools closed the connection during the handshake"
                raise ConnectionError(msg)
            head += chunk
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status:
            msg = f"DevTools refused the websocket: {status.decode(errors='replace')}"
            raise ConnectionError(msg)
        self.buffer = head.split(b"\r\n\r\n", 1)[1]

    def send(self, text: str) -> None:
        data = text.encode()
        n = len(data)
        if n < 126:
            header = struct.pack("!BB", 0x81, 0x80 | n)
        elif n < 1 << 16:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
        mask = os.urandom(4)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(header + mask + body)

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                msg = "DevTools closed the connection"
                raise ConnectionError(msg)
            self.buffer += chunk
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def recv(self) -> str:
        parts = []
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            payload = self._read(n)
            opcode = b0 & 0x0F
            if opcode == 0x8:
                msg = "DevTools closed the websocket"
                raise ConnectionError(msg)
            if opcode in (0x9, 0xA):  # ping / pong: not used by DevTools
                continue
            parts.append(payload)
            if b0 & 0x80:
                return b"".join(parts).decode()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class Browser:
    """One headless Chromium with one page; use as a context manager.

    ``offline=True`` (default) sends every request to a dead proxy and resolves no host
    name, so only ``file://`` pages and inline content load.
    """

    def __init__(
        self,
        binary: str | None = None,
        *,
        offline: bool = True,
        width: int = 1200,
        height: int = 800,
        timeout_s: float = 60.0,
    ) -> None:
        self.binary = binary or find_chromium()
        if self.binary is None:
            msg = "no Chromium found (install the 'chromium' package or set SITING_CHROMIUM)"
            raise FileNotFoundError(msg)
        self.offline = offline
        self.size = (width, height)
        self.timeout_s = timeout_s
        self.events: list[dict[str, Any]] = []
        self._id = 0

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> Browser:
        self._profile = tempfile.TemporaryDirectory(
            prefix="siting-chromium-", ignore_cleanup_errors=True
        )
        flags = [*BASE_FLAGS, *(OFFLINE_FLAGS if self.offline else ())]
        flags += [
            f"--user-data-dir={self._profile.name}",
            "--remote-debugging-port=0",
            f"--window-size={self.size[0]},{self.size[1]}",
            "about:blank",
        ]
        self.process = subprocess.Popen(  # its own group: its helpers are stopped with it
            [self.binary, *flags],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            self.ws = _WebSocket(self._page_url(), self.timeout_s)
            for domain in ("Page", "Runtime", "Log"):
                self.send(f"{domain}.enable")
            self.send(
                "Emulation.setDeviceMetricsOverride",
                width=self.size[0],
                height=self.size[1],
                deviceScaleFactor=1,
                mobile=False,
            )
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if getattr(self, "ws", None) is not None:
            self.ws.close()
        _signal_group(self.process, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        _signal_group(self.process, signal.SIGKILL)  # helpers still writing to the profile
        for _ in range(20):  # their last writes may land just after they exit
            shutil.rmtree(self._profile.name, ignore_errors=True)
            if not Path(self._profile.name).exists():
                break
            time.sleep(0.05)
        self._profile.cleanup()

    def _page_url(self) -> str:
        port_file = Path(self._profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout_s
        while not port_file.is_file() or not port_file.read_text().strip():
            if self.process.poll() is not None or time.monotonic() > deadline:
                msg = f"{self.binary} did not start its DevTools server"
                raise RuntimeError(msg)
            time.sleep(0.05)
        port = port_file.read_text().split()[0]
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while True:
            with opener.open(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
                pages = [t for t in json.load(response) if t.get("type") == "page"]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
            time.sleep(0.05)

    # ------------------------------------------------------------------ protocol
    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Call a DevTools method and return its result (events are kept in ``events``)."""
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            message = json.loads(self.ws.recv())
            if message.get("id") == self._id:
                if "error" in message:
                    msg = f"{method}: {message['error']}"
                    raise RuntimeError(msg)
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)
        msg = f"{method}: no answer within {self.timeout_s} s"
        raise TimeoutError(msg)

    def wait_for(self, event: str, since: int = 0) -> dict[str, Any]:
        """Wait for the first event named ``event`` after ``events[since]``."""
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            for message in self.events[since:]:
                if message["method"] == event:
                    return message
            self.events.append(json.loads(self.ws.recv()))
        msg = f"no {event} within {self.timeout_s} s"
        raise TimeoutError(msg)

    # ------------------------------------------------------------------ pages
    def open(self, path: str | os.PathLike) -> float:
        """Load a file and wait for its load event; seconds from navigation to load."""
        mark = len(self.events)
        start = time.perf_counter()
        self.send("Page.navigate", url=Path(path).resolve().as_uri())
        self.wait_for("Page.loadEventFired", since=mark)
        return time.perf_counter() - start

    def eval(self, expression: str) -> Any:
        """Evaluate JavaScript (promises awaited) and return its value as JSON data."""
        result = self.send(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            msg = f"JavaScript error: {text}"
            raise RuntimeError(msg)
        return result.get("result", {}).get("value")

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries seen so far."""
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                out.append(d.get("exception", {}).get("description") or d.get("text", ""))
            elif e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(" ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
            elif e["method"] == "Log.entryAdded" and p["entry"].get("level") == "error":
                out.append(f"{p['entry'].get('text')} {p['entry'].get('url', '')}".strip())
        return out

    def screenshot(self, path: str | os.PathLike, *, clip: dict | None = None) -> Path:
        """Save a PNG of the page (or of ``clip``: x, y, width, height)."""
        params: dict[str, Any] = {"format": "png"}
        if clip is not None:
            params["clip"] = {**clip, "scale": 1}
            params["captureBeyondViewport"] = True
        data = self.send("Page.captureScreenshot", **params)["data"]
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    """Send ``sig`` to the process group Chromium leads (it and its helper processes)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group has ended
        os.killpg(process.pid, sig)
