"""REST data endpoints of the fake Exact Online: GET /api/v1/{division}/{service}/{Entity}.

Answers like Exact's OData v2: {"d": {"results": [...], "__next": url}}, pages
of PAGE_SIZE rows with a $skiptoken, dates as "/Date(ms)/", `$filter` with
string literals quoted in ' (a ' inside doubled), `$top`, X-RateLimit-*
headers per division (60 a minute, 5,000 a day). Bearer tokens: the access
tokens the fake's token endpoint issued (they inherit the divisions of the
refresh token they came from) or ones granted with `grant()`; in demo mode any
token reaches any division. Faults: `inject_rest("401"|"429"|"500", count=, division=)`.
"""
import datetime
import json
import re
from urllib.parse import parse_qs, quote, urlsplit

PAGE_SIZE = 20
MINUTE_LIMIT, DAY_LIMIT = 60, 5000

_NAMES = ["Bakkerij de Graaf", "Van Dijk Installatietechniek", "Bloemenhandel Jansen",
          "Koffiebranderij Het Anker", "De Vries Transport B.V.", "Schildersbedrijf Bakker",
          "Fietsenmaker Visser", "Smit & Zonen Hoveniers", "Meubelmakerij Mulder",
          "Autobedrijf De Boer", "Drukkerij Peters", "Loodgieter Hendriks",
          "Kaashandel Van Leeuwen", "Bouwbedrijf Dekker", "Brouwerij 't Hoekje",
          "Tandartspraktijk Brouwer", "Accountantskantoor De Wit", "Slagerij Dijkstra",
          "IJssalon Venezia Utrecht", "Kapsalon Bos", "Architectenbureau Vos",
          "Groothandel Koster", "Rijschool Prins", "Hotel De Gouden Leeuw",
          "Tuincentrum Huisman", "Installatiebedrijf Kuiper"]
_CITIES = ["Amsterdam", "Rotterdam", "Utrecht", "Den Haag", "Eindhoven", "Groningen",
           "Tilburg", "Almere", "Breda", "Nijmegen", "Haarlem", "Arnhem", "Zwolle"]
_GL = [("0100", "Gebouwen", "B"), ("1100", "Bank", "B"), ("1300", "Debiteuren", "B"),
       ("1600", "Crediteuren", "B"), ("1800", "Af te dragen btw", "B"),
       ("4000", "Personeelskosten", "W"), ("4300", "Huisvestingskosten", "W"),
       ("4500", "Autokosten", "W"), ("7000", "Inkoopwaarde omzet", "W"),
       ("8000", "Omzet hoog tarief", "W"), ("8100", "Omzet laag tarief", "W")]
_ITEMS = [("ART-001", "Koffiebonen espresso 1 kg", 18.95), ("ART-002", "Stroopwafels doos 24 st", 12.5),
          ("ART-003", "Onderhoudscontract per uur", 65.0), ("ART-004", "Fietsband 28 inch", 21.0),
          ("ART-005", "Verf wit 5 liter", 54.99), ("ART-006", "Montage per uur", 55.0)]


def odata_date(day):
    dt = datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.timezone.utc)
    return "/Date(%d)/" % int(dt.timestamp() * 1000)


def _guid(division, kind, n):
    return "%08x-%04x-4%03x-8000-%012x" % (division % 2**32, kind, n % 4096, n)


def demo_data(division):
    """Deterministic Dutch demo books for one division."""
    base = datetime.date(2026, 1, 5)
    accounts, invoices, receivables, purchases = [], [], [], []
    for i, name in enumerate(_NAMES):
        slug = re.sub(r"[^a-z]", "", name.lower())[:14]
        accounts.append({"ID": _guid(division, 1, i), "Code": "%18d" % (1000 + i), "Name": name,
                         "Email": "administratie@%s.nl" % slug, "City": _CITIES[i % len(_CITIES)],
                         "Country": "NL", "Status": "C"})
    for i in range(45):
        acc = accounts[(i * 7) % len(accounts)]
        day = base + datetime.timedelta(days=3 * i)
        amount = round(121.0 * (1 + (i * 37) % 23) + 0.5 * (i % 3), 2)
        status = 50 if i % 3 else 20
        invoices.append({"InvoiceID": _guid(division, 2, i), "InvoiceNumber": 26000 + i,
                         "InvoiceToName": acc["Name"], "InvoiceTo": acc["ID"],
                         "InvoiceDate": odata_date(day), "AmountDC": amount, "Currency": "EUR",
                         "Status": status, "Description": "Factuur %d" % (26000 + i)})
        if status == 20:
            receivables.append({"HID": 26000 + i, "AccountCode": acc["Code"], "AccountName": acc["Name"],
                                "Amount": amount, "CurrencyCode": "EUR", "InvoiceNumber": 26000 + i,
                                "InvoiceDate": odata_date(day),
                                "DueDate": odata_date(day + datetime.timedelta(days=30)),
                                "Description": "Factuur %d" % (26000 + i)})
        purchases.append({"EntryID": _guid(division, 3, i), "EntryNumber": 16000 + i,
                          "SupplierName": _NAMES[(i * 5 + 3) % len(_NAMES)],
                          "InvoiceDate": odata_date(day), "AmountDC": round(amount * 0.6, 2),
                          "Currency": "EUR", "YourRef": "INK-%04d" % i,
                          "DueDate": odata_date(day + datetime.timedelta(days=14))})
    gl = [{"ID": _guid(division, 4, i), "Code": c, "Description": d, "BalanceType": t}
          for i, (c, d, t) in enumerate(_GL)]
    balance = []
    for period in range(1, 13):
        for i, (c, d, t) in enumerate(_GL):
            amt = round((i + 1) * 1234.56 * (1 + period / 10.0) * (1 if i % 2 else -1), 2)
            balance.append({"ID": "%d-%s-%d" % (division, c, period), "ReportingYear": 2026,
                            "ReportingPeriod": period, "GLAccountCode": c,
                            "GLAccountDescription": d, "BalanceType": t, "Amount": amt,
                            "AmountDebit": max(amt, 0.0), "AmountCredit": max(-amt, 0.0)})
    items = [{"ID": _guid(division, 5, i), "Code": c, "Description": d,
              "StandardSalesPrice": p, "IsSalesItem": True, "Unit": "st"}
             for i, (c, d, p) in enumerate(_ITEMS)]
    return {"crm/Accounts": accounts, "salesinvoice/SalesInvoices": invoices,
            "read/financial/ReceivablesList": receivables,
            "purchaseentry/PurchaseEntries": purchases, "financial/GLAccounts": gl,
            "financial/ReportingBalance": balance, "logistics/Items": items}


# --- a small $filter evaluator: or/and, parentheses, eq/ne/ge/le/gt/lt, substringof ---
_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<word>[A-Za-z_]\w*)"
                    r"|(?P<sym>[(),]))")


class FilterError(ValueError):
    pass


def _tokens(text):
    pos, out = 0, []
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m:
            raise FilterError("bad $filter near %r" % text[pos:pos + 10])
        pos = m.end()
        if m.group("str") is not None:
            out.append(("str", m.group("str")[1:-1].replace("''", "'")))
        elif m.group("num") is not None:
            out.append(("num", float(m.group("num"))))
        elif m.group("word") is not None:
            out.append(("word", m.group("word")))
        else:
            out.append(("sym", m.group("sym")))
    return out


def parse_filter(text):
    """A predicate row -> bool for an OData v2 $filter; FilterError when malformed."""
    toks, i = _tokens(text), [0]

    def peek():
        return toks[i[0]] if i[0] < len(toks) else (None, None)

    def take(kind=None, value=None):
        tok = peek()
        if tok[0] is None or (kind and tok[0] != kind) or (value and tok[1] != value):
            raise FilterError("bad $filter")
        i[0] += 1
        return tok

    def value():
        kind, v = take()
        if kind in ("str", "num"):
            return lambda row, v=v: v
        if kind == "word" and v in ("true", "false"):
            return lambda row, v=v: v == "true"
        if kind == "word" and v == "substringof":
            take("sym", "(")
            needle = value()
            take("sym", ",")
            hay = value()
            take("sym", ")")
            return lambda row: str(needle(row)).lower() in str(hay(row) or "").lower()
        if kind == "word":
            return lambda row, v=v: row.get(v)
        if (kind, v) == ("sym", "("):
            inner = expr()
            take("sym", ")")
            return inner
        raise FilterError("bad $filter")

    ops = {"eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "ge": lambda a, b: a >= b,
           "le": lambda a, b: a <= b, "gt": lambda a, b: a > b, "lt": lambda a, b: a < b}

    def comparison():
        left = value()
        kind, v = peek()
        if kind == "word" and v in ops:
            take()
            right, op = value(), ops[v]
            return lambda row: op(left(row), right(row))
        return left

    def conj():
        parts = [comparison()]
        while peek() == ("word", "and"):
            take()
            parts.append(comparison())
        return lambda row: all(p(row) is True for p in parts)

    def expr():
        parts = [conj()]
        while peek() == ("word", "or"):
            take()
            parts.append(conj())
        return lambda row: any(p(row) is True for p in parts)

    result = expr()
    if i[0] != len(toks):
        raise FilterError("bad $filter")
    return result


class FakeExactRest:
    """Attached to a FakeExact: `fake.rest`. Thread-safe; state lives under fake._lock."""

    def __init__(self, fake):
        self.fake = fake
        self.reset()

    def reset(self):
        self.grants = {}  # access token -> {"divisions": set|None, "expires": t}
        self.refresh_divisions = {}  # refresh token -> set of divisions
        self.faults = []
        self.calls = 0
        self.calls_by_token = {}
        self.windows = {}  # division -> {"minute": (start, used), "day": (start, used)}
        self._data = {}

    # --- set-up --------------------------------------------------------------
    def grant(self, access_token, divisions, expires_in=600, refresh_token=None):
        with self.fake._lock:
            self.grants[access_token] = {"divisions": set(divisions),
                                         "expires": self.fake.now() + expires_in}
            if refresh_token:
                self.refresh_divisions[refresh_token] = set(divisions)

    def issued(self, old_refresh, new_refresh, access_token):
        """Called by the token endpoint (under the fake's lock) after a rotation."""
        divisions = self.refresh_divisions.pop(old_refresh, None)
        if divisions is not None:
            self.refresh_divisions[new_refresh] = divisions
        self.grants[access_token] = {"divisions": divisions, "expires": self.fake.now() + 600}

    def inject(self, kind, count=1, division=None, **params):
        if kind not in ("401", "429", "500"):
            raise ValueError("unknown REST fault %r" % kind)
        with self.fake._lock:
            self.faults.append(dict(params, kind=kind, count=count, division=division))

    def data(self, division):
        if division not in self._data:
            self._data[division] = demo_data(division)
        return self._data[division]

    # --- one request ---------------------------------------------------------
    def _rate(self, division, now):
        w = self.windows.setdefault(division, {"minute": [now, 0], "day": [now, 0]})
        if now - w["minute"][0] >= 60:
            w["minute"] = [now, 0]
        if now - w["day"][0] >= 86400:
            w["day"] = [now, 0]
        headers = {
            "X-RateLimit-Minutely-Limit": str(MINUTE_LIMIT),
            "X-RateLimit-Minutely-Remaining": str(max(0, MINUTE_LIMIT - w["minute"][1] - 1)),
            "X-RateLimit-Minutely-Reset": str(int((w["minute"][0] + 60) * 1000)),
            "X-RateLimit-Limit": str(DAY_LIMIT),
            "X-RateLimit-Remaining": str(max(0, DAY_LIMIT - w["day"][1] - 1)),
            "X-RateLimit-Reset": str(int((w["day"][0] + 86400) * 1000)),
        }
        exceeded = w["minute"][1] >= MINUTE_LIMIT or w["day"][1] >= DAY_LIMIT
        if not exceeded:
            w["minute"][1] += 1
            w["day"][1] += 1
        return headers, exceeded

    def answer(self, path, headers, base_url):
        """(status, headers, body) for GET `path`, or None when not a REST path."""
        parts = urlsplit(path)
        m = re.match(r"^/api/v1/(\d+)/(.+)$", parts.path)
        if not m:
            return None
        division, entity = int(m.group(1)), m.group(2)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        auth = headers.get("Authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        fake = self.fake
        with fake._lock:
            self.calls += 1
            self.calls_by_token[token] = self.calls_by_token.get(token, 0) + 1
            now = fake.now()
            fault = None
            for f in self.faults:
                if f["division"] in (None, division) and f["count"] > 0:
                    f["count"] -= 1
                    fault = f
                    break
            self.faults = [f for f in self.faults if f["count"] > 0]
            grant = self.grants.get(token)
            if grant is None and fake.mode == "demo" and token:
                grant = {"divisions": None, "expires": float("inf")}
            if (fault and fault["kind"] == "401") or grant is None or grant["expires"] < now:
                return _json(401, {"error": {"message": {"value": "Unauthorized"}}})
            if grant["divisions"] is not None and division not in grant["divisions"]:
                return _json(403, {"error": {"message": {"value": "Forbidden: no access to division %d" % division}}})
            rate, exceeded = self._rate(division, now)
            if fault and fault["kind"] == "500":
                return _json(500, {"error": {"message": {"value": "Internal server error"}}})
            if exceeded or (fault and fault["kind"] == "429"):
                if fault and fault.get("reset_ms"):
                    rate["X-RateLimit-Minutely-Reset"] = str(int(fault["reset_ms"]))
                rate["X-RateLimit-Minutely-Remaining"] = "0"
                return _json(429, {"error": {"message": {"value": "Too many requests"}}}, rate)
            rows = self.data(division).get(entity)
        if rows is None:
            return _json(404, {"error": {"message": {"value": "Resource not found"}}}, rate)
        try:
            if query.get("$filter"):
                pred = parse_filter(query["$filter"])
                rows = [r for r in rows if pred(r)]
        except FilterError as exc:
            return _json(400, {"error": {"message": {"value": str(exc)}}}, rate)
        top = int(query["$top"]) if query.get("$top", "").isdigit() else None
        skip = int(query.get("$skiptoken", "0") or 0)
        limit = len(rows) if top is None else min(top, len(rows))
        page = rows[skip:min(skip + PAGE_SIZE, limit)]
        body = {"d": {"results": page}}
        if skip + PAGE_SIZE < limit:
            rest = {k: v for k, v in query.items() if k != "$skiptoken"}
            q = "&".join("%s=%s" % (quote(k, safe="$"), quote(v, safe="")) for k, v in rest.items())
            body["d"]["__next"] = "%s%s?%s%s$skiptoken=%d" % (base_url, parts.path, q, "&" if q else "", skip + PAGE_SIZE)
        return _json(200, body, rate)


def _json(status, body, extra=None):
    headers = {"Content-Type": "application/json"}
    headers.update(extra or {})
    return status, headers, json.dumps(body).encode()
