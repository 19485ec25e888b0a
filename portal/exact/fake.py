"""A fake Exact Online token endpoint: a real HTTP server on localhost.

Behaves like Exact where the token code cares:
* refresh tokens rotate; presenting a used one answers 401
  {"error":"unauthorized_client","error_description":"Old refresh token used."};
* a refresh within 570 s of the token's issue answers 400 access_denied
  "Rate limit exceeded: access_token not expired" (the token stays valid);
* `expires_in` is the string "600";
* faults can be injected: 500, hang (longer than the client timeout), 429 with
  X-RateLimit-Reset (epoch ms) and Retry-After, malformed JSON, invalid_grant,
  refresh token expired, too early; plus a fixed latency per call.

Modes: STRICT (tests) accepts only refresh tokens registered through the
control API; DEMO (default as a program) accepts an unknown token the first
time it sees it, so seed-demo's random tokens work, and fails a small share of
calls transiently so the demo shows retries.

In-process: `server = FakeExact(mode="strict").start()`; `server.url`,
`server.register(token)`, `server.inject("500", count=2)`, `server.uses(token)`.
Over HTTP: POST /_control/register {"tokens": [...]}, /_control/grant {"grants":
[{"access_token", "divisions", "expires_in", "refresh_token"}]} (REST access),
/_control/inject {...},
/_control/latency {"ms": 20}, /_control/reset, GET /_control/stats.
Run: `python -m portal.exact.fake --port 5055 [--strict] [--latency-ms N]`.
"""
import argparse
import collections
import json
import random
import secrets
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from portal.exact import fake_oauth

TOO_EARLY_SECONDS = 570
REFRESH_TOKEN_DAYS = 30
OLD_TOKEN = {"error": "unauthorized_client", "error_description": "Old refresh token used."}
TOO_EARLY = {"error": "access_denied",
             "error_description": "Rate limit exceeded: access_token not expired"}
FAULTS = ("500", "hang", "429", "malformed", "invalid_grant", "refresh_expired",
          "too_early", "old_token")


class FakeExact:
    def __init__(self, mode="strict", latency_ms=0, transient_share=0.0, host="127.0.0.1",
                 port=0, seed=None):
        self.mode = mode
        self.latency_ms = latency_ms
        self.transient_share = transient_share
        self.host, self.port = host, port
        self.clock_offset = 0.0
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self._server = None
        self._thread = None
        self.rest = None
        self.reset()
        from portal.exact.fake_rest import FakeExactRest  # REST data endpoints (MCP tools)
        self.rest = FakeExactRest(self)

    # --- state -----------------------------------------------------------
    def reset(self):
        with getattr(self, "_lock", threading.Lock()):
            self.tokens = {}  # refresh token -> {"state": valid|used, "issued": t}
            self.use_counts = collections.Counter()
            self.issued_pairs = {}  # new refresh token -> access token issued with it
            self.faults = []  # [{"kind", "count", "token", ...}]
            self.calls = 0
            self.answers = collections.Counter()
            self.oauth = fake_oauth.OAuthFake()  # authorize page, code grant, Me, Divisions

    def now(self):
        return time.time() + self.clock_offset

    def advance(self, seconds):
        """Move the fake's clock forward (e.g. past the 570 s too-early window)."""
        self.clock_offset += seconds

    def register(self, token, issued_ago=86400):
        """Make `token` a valid refresh token, issued `issued_ago` seconds ago."""
        with self._lock:
            self.tokens[token] = {"state": "valid", "issued": self.now() - issued_ago}

    def register_many(self, tokens, issued_ago=86400):
        with self._lock:
            issued = self.now() - issued_ago
            for t in tokens:
                self.tokens[t] = {"state": "valid", "issued": issued}

    def inject(self, kind, count=1, token=None, **params):
        """Next `count` calls (for `token` only, if given) answer with fault `kind`."""
        if kind not in FAULTS:
            raise ValueError("unknown fault %r" % kind)
        with self._lock:
            self.faults.append(dict(params, kind=kind, count=count, token=token))

    def uses(self, token):
        return self.use_counts[token]

    def is_valid(self, token):
        """True if `token` is a live refresh token (issued or registered, not used)."""
        entry = self.tokens.get(token)
        return entry is not None and entry["state"] == "valid"

    def stats(self):
        with self._lock:
            return {"calls": self.calls, "answers": dict(self.answers),
                    "max_uses": max(self.use_counts.values(), default=0),
                    "reused_tokens": sum(1 for c in self.use_counts.values() if c > 1),
                    "valid_tokens": sum(1 for t in self.tokens.values()
                                        if t["state"] == "valid")}

    def _take_fault(self, token):
        for fault in self.faults:
            if fault["token"] in (None, token) and fault["count"] > 0:
                fault["count"] -= 1
                if fault["count"] == 0:
                    self.faults.remove(fault)
                return fault
        return None

    # --- the token endpoint ------------------------------------------------
    def answer(self, form):
        """(status, headers, body bytes, hang seconds) for one token request."""
        if form.get("grant_type") == "authorization_code":
            return fake_oauth.code_grant(self, form)
        if form.get("grant_type") != "refresh_token" or not form.get("client_id"):
            return self._json(400, {"error": "invalid_request"})
        token = form.get("refresh_token", "")
        with self._lock:
            self.calls += 1
            self.use_counts[token] += 1
            fault = self._take_fault(token)
            if fault is None and self.mode == "demo" and self.transient_share \
                    and self._random.random() < self.transient_share:
                fault = {"kind": self._random.choice(["500", "429", "malformed"])}
            if fault is not None:
                return self._fault(fault)
            entry = self.tokens.get(token)
            if entry is None and self.mode == "demo" and token:
                entry = self.tokens[token] = {"state": "valid", "issued": self.now() - 86400}
            if entry is None or entry["state"] == "used":
                return self._json(401, OLD_TOKEN)
            if self.now() - entry["issued"] > REFRESH_TOKEN_DAYS * 86400:
                return self._json(400, {"error": "invalid_request",
                                        "error_description": "The refresh token expired."})
            if self.now() - entry["issued"] < TOO_EARLY_SECONDS:
                return self._json(400, TOO_EARLY)
            entry["state"] = "used"
            new_refresh = "rt-" + secrets.token_urlsafe(24)
            self.tokens[new_refresh] = {"state": "valid", "issued": self.now()}
            body = {"access_token": "at-" + secrets.token_urlsafe(24), "token_type": "bearer",
                    "expires_in": "600", "refresh_token": new_refresh}
            self.issued_pairs[new_refresh] = body["access_token"]
            if self.rest is not None:
                self.rest.issued(token, new_refresh, body["access_token"])
        return self._json(200, body)

    def _fault(self, fault):
        kind = fault["kind"]
        if kind == "500":
            return self._json(500, {"error": "server_error"})
        if kind == "hang":
            status, headers, body, _ = self._json(500, {"error": "late"})
            return status, headers, body, float(fault.get("seconds", 5))
        if kind == "429":
            headers = {}
            if fault.get("reset_ms") is not None:
                headers["X-RateLimit-Reset"] = str(int(fault["reset_ms"]))
            if fault.get("retry_after") is not None:
                headers["Retry-After"] = str(int(fault["retry_after"]))
            if not headers:
                headers["X-RateLimit-Reset"] = str(int((self.now() + 60) * 1000))
            status, h, body, hang = self._json(429, {"error": "rate_limited"})
            h.update(headers)
            return status, h, body, hang
        if kind == "malformed":
            return 200, {"Content-Type": "application/json"}, b'{"access_token": "x", ', 0
        if kind == "invalid_grant":
            return self._json(400, {"error": "invalid_grant"})
        if kind == "refresh_expired":
            return self._json(400, {"error": "invalid_request",
                                    "error_description": "The refresh token expired."})
        if kind == "too_early":
            return self._json(400, TOO_EARLY)
        return self._json(401, OLD_TOKEN)

    def _json(self, status, body):
        with_count = self.answers
        with_count[status] += 1
        return status, {"Content-Type": "application/json"}, json.dumps(body).encode(), 0

    # --- control API over HTTP (for a fake running as its own process) ------
    def control(self, path, payload):
        if path == "/_control/register":
            self.register_many(payload.get("tokens", []), payload.get("issued_ago", 86400))
        elif path == "/_control/inject":
            self.inject(payload.pop("kind"), **payload)
        elif path == "/_control/latency":
            self.latency_ms = float(payload.get("ms", 0))
        elif path == "/_control/advance":
            self.advance(float(payload.get("seconds", 0)))
        elif path == "/_control/reset":
            self.reset()
            if self.rest is not None:
                self.rest.reset()
        elif path == "/_control/grant":
            if self.rest is None:
                return None
            for g in payload.get("grants", []):
                self.rest.grant(g["access_token"], g["divisions"], g.get("expires_in", 600),
                                g.get("refresh_token"))
        elif path == "/_control/uses":
            return {t: self.uses(t) for t in payload.get("tokens", [])}
        elif path != "/_control/stats":
            return None
        return self.stats()

    # --- serving -----------------------------------------------------------
    def start(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like the real endpoint

            def setup(self):
                super().setup()
                # Headers and body go out as two writes: without NODELAY, Nagle
                # plus the client's delayed ACK adds ~40 ms to every answer.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args):  # quiet: request lines would show nothing useful
                pass

            def _send(self, status, headers, body):
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _body(self):
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def do_GET(self):
                if self.path == "/_control/stats":
                    return self._send(200, {"Content-Type": "application/json"},
                                      json.dumps(fake.stats()).encode())
                oauth = fake_oauth.handle(fake, "GET", self.path, self.headers)
                if oauth is not None:
                    return self._send(*oauth)
                routed = fake.rest.answer(self.path, self.headers, fake.url) if fake.rest else None
                if routed is not None:
                    if fake.latency_ms:
                        time.sleep(fake.latency_ms / 1000.0)
                    return self._send(*routed)
                self._send(404, {}, b"")

            def do_POST(self):
                raw = self._body()
                if self.path.startswith("/_control/"):
                    payload = json.loads(raw or b"{}")
                    result = fake.control(self.path, payload)
                    if result is None:
                        return self._send(404, {}, b"")
                    return self._send(200, {"Content-Type": "application/json"},
                                      json.dumps(result).encode())
                oauth = fake_oauth.handle(fake, "POST", self.path, self.headers, raw)
                if oauth is not None:
                    return self._send(*oauth)
                if self.path.split("?")[0] != "/api/oauth2/token":
                    return self._send(404, {}, b"")
                form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
                status, headers, body, hang = fake.answer(form)
                # Latency after the token rotated: a client killed meanwhile
                # loses the new token, exactly the case the sidecar must survive.
                delay = hang or (fake.latency_ms / 1000.0)
                if delay:
                    time.sleep(delay)
                try:
                    self._send(status, headers, body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128

        self._server = Server((self.host, self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.05}, name="fake-exact")
        self._thread.start()
        return self

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None

    def __enter__(self):
        return self.start() if self._server is None else self

    def __exit__(self, *exc):
        self.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description="Fake Exact Online token endpoint")
    parser.add_argument("--port", type=int, default=5055)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--strict", action="store_true",
                        help="accept only tokens registered via /_control/register")
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--transient-share", type=float, default=None,
                        help="share of calls failing transiently (demo default 0.05)")
    args = parser.parse_args(argv)
    mode = "strict" if args.strict else "demo"
    share = args.transient_share if args.transient_share is not None else (
        0.05 if mode == "demo" else 0.0)
    fake = FakeExact(mode=mode, latency_ms=args.latency_ms, transient_share=share,
                     host=args.host, port=args.port).start()
    print("fake Exact (%s mode) on %s" % (mode, fake.url), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
