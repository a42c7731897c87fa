"""A development catcher for e-mail and webhook posts, used by `flask alerts sink` and the tests."""

import json
import threading
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tracker.core import clock


class MailKeeper:
    """aiosmtpd handler that keeps each message as a .eml file and remembers it."""

    def __init__(self, folder: Path | None = None):
        self.folder = folder
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append(message)
        if self.folder is not None:
            name = f"{clock.now():%Y%m%d-%H%M%S-%f}.eml"
            (self.folder / name).write_bytes(envelope.content)
        print(f"[mail] to {', '.join(envelope.rcpt_tos)}: {message['Subject']}", flush=True)  # noqa: T201
        return "250 Message accepted for delivery"


def serve_webhooks(port: int, folder: Path | None = None, answers=None) -> ThreadingHTTPServer:
    """A webhook receiver on 127.0.0.1:PORT in a thread. ANSWERS (a list of status codes) is used up
    one per request, then 200; every request is recorded on `server.received`."""
    answers = list(answers or [])
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's hook name
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            received.append({"path": self.path, "body": body})
            status = answers.pop(0) if answers else 200
            if folder is not None and status == 200:
                (folder / f"{clock.now():%Y%m%d-%H%M%S-%f}.json").write_bytes(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps({"errcode": 0 if status == 200 else status}).encode())
            if status == 200:
                print(f"[webhook] {self.path}: {body[:120].decode('utf-8', 'replace')}", flush=True)  # noqa: T201

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.received = received
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
