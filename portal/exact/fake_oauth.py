"""The OAuth side of the fake Exact (issue 12): authorize page, code grant, Me, Divisions.

Dispatched from portal/exact/fake.py; state lives on `fake.oauth` (an OAuthFake).

* `GET /api/oauth2/auth?client_id&redirect_uri&response_type=code&state` shows a
  consent page (who signs in, which divisions) with "Allow" and "Deny" buttons.
  Allow → 302 `redirect_uri?code=C&state=S`; Deny → `redirect_uri?error=access_denied&state=S`.
* `POST /api/oauth2/token` with `grant_type=authorization_code`: the code is
  single use, lives 10 minutes and only works with the same client_id and
  redirect_uri it was issued for; the answer has the same shape as a refresh,
  and the refresh token is registered with the fake's token state machine.
* `GET /api/v1/current/Me` and `GET /api/v1/{division}/system/Divisions` with
  `Authorization: Bearer <access token>` (a token issued here, not expired).

Faults for tests: `fake.oauth.fail_me = N` (next N /current/Me answer 500);
the token endpoint's injected faults (`fake.inject("500")`) apply to the code grant too.
"""
import html
import json
import zlib
import secrets
import threading
from urllib.parse import parse_qs, urlencode, urlsplit

CODE_SECONDS = 600
ACCESS_SECONDS = 600
DEFAULT_EMAIL = "demo.customer@example.com"
DEFAULT_NAME = "Demo Customer"
DEMO_DIVISIONS = [(100001, "Demo Bakkerij BV"), (100002, "Demo Holding BV"),
                  (100003, "Demo Webshop BV")]


class OAuthFake:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.codes = {}  # code -> {client_id, redirect_uri, email, name, expires, used}
        self.access = {}  # access token -> {email, name, expires}
        self.fail_me = 0
        self.divisions = list(DEMO_DIVISIONS)
        self.code_grants = 0

    def identity(self, email):
        return {"email": email, "name": email.split("@")[0].replace(".", " ").title()}


def _page(status, body, headers=None):
    h = {"Content-Type": "text/html; charset=utf-8"}
    h.update(headers or {})
    return status, h, body.encode("utf-8")


def _json(status, body):
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


def _redirect(url):
    return 302, {"Location": url}, b""


def _with_query(url, params):
    return url + ("&" if "?" in url else "?") + urlencode(params)


def authorize_page(fake, query):
    """GET /api/oauth2/auth: the consent page."""
    q = {k: v[0] for k, v in parse_qs(query).items()}
    redirect_uri = q.get("redirect_uri", "")
    if (q.get("response_type") != "code" or not q.get("client_id")
            or urlsplit(redirect_uri).scheme not in ("http", "https")):
        return _page(400, "<h1>Bad authorization request</h1>")
    fields = "".join('<input type="hidden" name="%s" value="%s">' % (
        html.escape(k), html.escape(q.get(k, ""))) for k in
        ("client_id", "redirect_uri", "state"))
    divisions = "".join("<li>%d &middot; %s</li>" % (code, html.escape(name))
                        for code, name in fake.oauth.divisions)
    body = (
        "<!doctype html><html><head><title>Exact Online (fake): allow access</title></head>"
        "<body><h1>Exact Online (development fake)</h1>"
        "<p>The application <strong>%s</strong> asks for access to your administrations:</p>"
        "<ul>%s</ul>"
        '<form method="post" action="/api/oauth2/auth">%s'
        '<p><label>Sign in as <input name="email" value="%s" size="40"></label></p>'
        '<button type="submit" name="decision" value="allow" id="allow">Allow access</button> '
        '<button type="submit" name="decision" value="deny" id="deny">Deny</button>'
        "</form></body></html>"
        % (html.escape(q.get("client_id", "")), divisions, fields, html.escape(DEFAULT_EMAIL)))
    return _page(200, body)


def authorize_decision(fake, form):
    """POST /api/oauth2/auth: the consent button."""
    redirect_uri = form.get("redirect_uri", "")
    if urlsplit(redirect_uri).scheme not in ("http", "https") or not form.get("client_id"):
        return _page(400, "<h1>Bad authorization request</h1>")
    state = form.get("state", "")
    if form.get("decision") != "allow":
        return _redirect(_with_query(redirect_uri, {"error": "access_denied", "state": state}))
    email = (form.get("email") or DEFAULT_EMAIL).strip()
    code = "code-" + secrets.token_urlsafe(24)
    with fake.oauth.lock:
        fake.oauth.codes[code] = dict(fake.oauth.identity(email), client_id=form["client_id"],
                                      redirect_uri=redirect_uri,
                                      expires=fake.now() + CODE_SECONDS, used=False)
    return _redirect(_with_query(redirect_uri, {"code": code, "state": state}))


def issue_code(fake, client_id, redirect_uri, email=DEFAULT_EMAIL):
    """For tests: what pressing "Allow" does, without the page."""
    status, headers, _ = authorize_decision(fake, {"client_id": client_id,
                                                   "redirect_uri": redirect_uri,
                                                   "state": "", "decision": "allow",
                                                   "email": email})
    return parse_qs(urlsplit(headers["Location"]).query)["code"][0]


def code_grant(fake, form):
    """POST /api/oauth2/token with grant_type=authorization_code → (status, headers, body, hang)."""
    code = form.get("code", "")
    with fake._lock:
        fake.calls += 1
        fault = fake._take_fault(code)
        if fault is not None:
            return fake._fault(fault)
    with fake.oauth.lock:
        entry = fake.oauth.codes.get(code)
        if (entry is None or entry["used"] or entry["expires"] < fake.now()
                or entry["client_id"] != form.get("client_id")
                or entry["redirect_uri"] != form.get("redirect_uri")
                or not form.get("client_secret")):
            if entry is not None:
                entry["used"] = True  # a code presented wrongly is burnt, like Exact does
            status, headers, body = _json(400, {"error": "invalid_grant",
                                                "error_description": "Invalid authorization code."})
            return status, headers, body, 0
        entry["used"] = True
        fake.oauth.code_grants += 1
        access = "at-" + secrets.token_urlsafe(24)
        fake.oauth.access[access] = {"email": entry["email"], "name": entry["name"],
                                     "expires": fake.now() + ACCESS_SECONDS}
    refresh = "rt-" + secrets.token_urlsafe(24)
    fake.register(refresh, issued_ago=0)
    with fake._lock:
        fake.issued_pairs[refresh] = access
    status, headers, body = _json(200, {"access_token": access, "token_type": "bearer",
                                        "expires_in": "600", "refresh_token": refresh})
    return status, headers, body, 0


def _bearer_identity(fake, headers):
    auth = headers.get("Authorization") or ""
    if not auth.startswith("Bearer "):
        return None
    token = auth[len("Bearer "):].strip()
    with fake.oauth.lock:
        who = fake.oauth.access.get(token)
    if who is None:
        # A token from a refresh (portal.exact.fake) is as good as one from the code grant.
        with fake._lock:
            known = token in fake.issued_pairs.values()
        if known:
            return fake.oauth.identity(DEFAULT_EMAIL)
        return None
    if who["expires"] < fake.now():
        return None
    return who


def api_get(fake, path, headers):
    """GET /api/v1/current/Me and /api/v1/{division}/system/Divisions; None if not ours."""
    parts = path.split("?")[0].strip("/").split("/")
    is_me = parts == ["api", "v1", "current", "Me"]
    is_divisions = (len(parts) == 5 and parts[:2] == ["api", "v1"] and parts[2].isdigit()
                    and parts[3:] == ["system", "Divisions"])
    if not (is_me or is_divisions):
        return None
    who = _bearer_identity(fake, headers)
    if who is None:
        return _json(401, {"error": {"message": {"value": "Unauthorized"}}})
    if is_me:
        with fake.oauth.lock:
            if fake.oauth.fail_me > 0:
                fake.oauth.fail_me -= 1
                return _json(500, {"error": {"message": {"value": "Internal error"}}})
        return _json(200, {"d": {"results": [{
            "CurrentDivision": fake.oauth.divisions[0][0], "Email": who["email"],
            "FullName": who["name"], "UserID": "00000000-0000-0000-0000-%012d"
            % zlib.crc32(who["email"].lower().encode())}]}})
    return _json(200, {"d": {"results": [{"Code": code, "Description": name}
                                         for code, name in fake.oauth.divisions]}})


def handle(fake, method, path, headers, body=b""):
    """The one entry point fake.py calls: (status, headers, body) or None if not ours."""
    route, _, query = path.partition("?")
    if route == "/api/oauth2/auth":
        if method == "GET":
            return authorize_page(fake, query)
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        return authorize_decision(fake, form)
    if method == "GET":
        return api_get(fake, path, headers)
    return None
