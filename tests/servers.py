"""Real servers for delivery tests: an SMTP server (aiosmtpd, STARTTLS and AUTH with a
test CA from trustme) and an HTTP webhook receiver. Both record what arrives, can be told
to fail in scripted ways, and drop a repeated message the way real receivers do (by
Message-ID, by Idempotency-Key) while still counting every raw arrival."""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import hmac
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER, PASSWORD = "shop", "pa55word"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Arrivals:
    """Every raw arrival (key, time) and the first of each key (the delivered set)."""

    raw: list[tuple[str, float]] = field(default_factory=list)
    delivered: dict[str, object] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)  # scripted, consumed one per arrival
    faulted: list[tuple[str, float]] = field(default_factory=list)  # (fault, time) of each one consumed
    on_arrival: Callable[[int], None] | None = None  # called with the raw count (kill the sender...)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_fault(self) -> str | None:
        with self.lock:
            if not self.faults:
                return None
            self.faulted.append((self.faults[0], time.monotonic()))
            return self.faults.pop(0)

    def record(self, key: str, item: object) -> bool:
        """True when new."""
        with self.lock:
            self.raw.append((key, time.monotonic()))
            new = key not in self.delivered
            if new:
                self.delivered[key] = item
            count = len(self.raw)
        if self.on_arrival is not None:
            self.on_arrival(count)
        return new

    def duplicates(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for key, _ in self.raw:
            counts[key] = counts.get(key, 0) + 1
        return {k: n for k, n in counts.items() if n > 1}


class LocalCA:
    def __init__(self, directory: Path) -> None:
        self.ca = trustme.CA()
        self.cert = self.ca.issue_cert("127.0.0.1", "localhost")
        self.ca_file = directory / "test-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.cert.configure_cert(context)
        return context


class _Parsed:
    """A received message, parsed when a test first looks at it (the email package takes
    milliseconds a message: the server would be what limits a benchmark)."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self._message: email.message.EmailMessage | None = None

    def __getattr__(self, name: str) -> object:
        if self._message is None:
            self._message = email.message_from_bytes(self.raw, policy=email.policy.SMTP)  # type: ignore[assignment]
        return getattr(self._message, name)

    def __getitem__(self, name: str) -> object:
        return self.__getattr__("__getitem__")(name)  # type: ignore[operator]


class _Mailbox:
    def __init__(self, arrivals: Arrivals, refuse: set[str], latency: float) -> None:
        self.arrivals, self.refuse, self.latency = arrivals, refuse, latency

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 (aiosmtpd's names)
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.latency:  # a provider's time to take a message; other sessions go on meanwhile
            await asyncio.sleep(self.latency)
        fault = self.arrivals.next_fault()
        if fault == "drop":  # the connection dies before the server answers; nothing accepted
            server.transport.close()
            return "421 dropped"
        if fault:
            return fault  # e.g. "451 4.3.0 try again later", "554 5.7.1 rejected"
        raw = envelope.original_content or envelope.content
        head = raw.split(b"\r\n\r\n", 1)[0]
        found = re.search(rb"^Message-ID:[ \t]*(\S+)", head, flags=re.IGNORECASE | re.MULTILINE)
        self.arrivals.record(found.group(1).decode() if found else "None", (envelope.rcpt_tos, _Parsed(raw)))
        return "250 OK queued"


class SmtpServer:
    """aiosmtpd on 127.0.0.1: STARTTLS required (or TLS from the start), AUTH LOGIN/PLAIN after it."""

    def __init__(self, ca: LocalCA, refuse: set[str] | None = None, implicit_tls: bool = False, latency: float = 0.0, smtputf8: bool = False) -> None:
        self.arrivals = Arrivals()
        self.port = free_port()

        def authenticate(server, session, envelope, mechanism, auth_data):  # noqa: ANN001
            ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == USER and auth_data.password.decode() == PASSWORD
            return AuthResult(success=ok, handled=False)

        # aiosmtpd's auth_require_tls looks for STARTTLS only; with TLS from the start the
        # whole session is encrypted anyway.
        tls = (
            {"ssl_context": ca.server_context(), "auth_require_tls": False}
            if implicit_tls
            else {"tls_context": ca.server_context(), "require_starttls": True, "auth_require_tls": True}
        )
        self.controller = Controller(
            _Mailbox(self.arrivals, refuse or set(), latency),
            hostname="127.0.0.1",
            port=self.port,
            authenticator=authenticate,
            decode_data=False,
            enable_SMTPUTF8=smtputf8,
            **tls,
        )

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


class WebhookServer:
    """A webhook receiver that checks the signature and keeps one delivery per
    Idempotency-Key (answering a repeat with 200, as providers do)."""

    def __init__(self, secret: str, tls: LocalCA | None = None, latency: float = 0.0) -> None:
        """`latency`: seconds each request takes before it is answered (a provider's)."""
        self.arrivals = Arrivals()
        self.bad_signatures = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                # As production servers do: without it, the answer's body waits for the
                # client's delayed ACK of its headers (40 ms a message).
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if latency:
                    time.sleep(latency)
                fault = server.arrivals.next_fault()
                if fault == "drop":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                slow = fault is not None and fault.startswith("slow")  # processes it, answers too late
                if fault and fault.startswith("body:"):  # "body:400:text": an error whose body says text
                    _, status, text = fault.split(":", 2)
                    answer = text.encode()
                    self.send_response(int(status))
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                    return
                if fault and not slow:
                    status, _, retry_after = fault.partition(":")
                    self.send_response(int(status))
                    if retry_after:
                        self.send_header("Retry-After", retry_after)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                stamp, signature = self.headers.get("X-Huitou-Timestamp", ""), self.headers.get("X-Huitou-Signature", "")
                expected = "sha256=" + hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
                if not hmac.compare_digest(signature, expected):
                    server.bad_signatures += 1
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                key = self.headers["Idempotency-Key"]
                server.arrivals.record(key, (dict(self.headers), json.loads(body)))
                if slow:
                    time.sleep(float(fault.split(":")[1]))
                answer = json.dumps({"id": f"gw-{key[:8]}"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, address: None  # a killed sender resets its connection: expected here
        if tls is not None:
            self.httpd.socket = tls.server_context().wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}/send"

    def __enter__(self) -> WebhookServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class TrickleServer:
    """A receiver that answers every connection with `answer` one byte every `interval`
    seconds (a stalled SMTP greeting, an HTTP answer that never ends): what a sender
    with only a per-read timeout waits on for ever."""

    def __init__(self, answer: bytes, interval: float = 2.0) -> None:
        self.answer, self.interval = answer, interval
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/send"
        self.stop = threading.Event()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with conn:
            for byte in self.answer:
                if self.stop.wait(self.interval):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    def __enter__(self) -> TrickleServer:
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.sock.close()
