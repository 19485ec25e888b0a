"""API keys: format and checksum, hash-only storage, shown once, revocation, last_used_at."""
import datetime
import hashlib
import math
import re

import pytest

from models import ApiKey, AuditLog, User
from portal.customers import api_keys
from tests.conftest import ADMIN_EMAIL


@pytest.fixture
def customer(app):
    return User.create(email="kees@example.nl", name="Kees", plan="starter")


def test_key_format_prefix_randomness_and_checksum(app):
    keys = {api_keys.generate_plaintext() for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert key.startswith("exa_")
        assert re.fullmatch(api_keys.SCAN_PATTERN.replace(r"\b", ""), key)
        assert len(key) == api_keys.KEY_LENGTH == 4 + 32 + 6
        assert api_keys.looks_like_key(key)
    assert api_keys.RANDOM_LENGTH * math.log2(62) >= 128


def test_checksum_is_crc32_of_the_random_part_so_scanners_can_verify(app):
    key = api_keys.generate_plaintext()
    random_part, check = key[4:36], key[36:]
    import zlib
    value = 0
    for ch in check:
        value = value * 62 + api_keys.BASE62.index(ch)
    assert value == zlib.crc32(random_part.encode())


def test_tampered_checksum_is_rejected_without_touching_the_database(app, customer, monkeypatch):
    key, plaintext = api_keys.create_api_key(customer)
    last = plaintext[-1]
    tampered = plaintext[:-1] + ("A" if last != "A" else "B")
    flipped_body = plaintext[:10] + ("x" if plaintext[10] != "x" else "y") + plaintext[11:]
    assert not api_keys.looks_like_key(tampered)
    assert not api_keys.looks_like_key(flipped_body)

    def no_db(*a, **k):
        raise AssertionError("the database was queried for a key with a bad checksum")

    monkeypatch.setattr(api_keys.ApiKey, "select", no_db)
    for bad in (tampered, flipped_body, "", "exa_", "ghp_" + plaintext[4:], plaintext + "x",
                plaintext.upper(), None, 12345):
        assert api_keys.authenticate(bad) is None
    monkeypatch.undo()
    assert api_keys.authenticate(plaintext).id == key.id


def test_only_the_hash_and_a_short_prefix_are_stored(app, customer):
    key, plaintext = api_keys.create_api_key(customer, "laptop")
    row = ApiKey.get_by_id(key.id)
    assert row.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert row.prefix == plaintext[:12] and len(row.prefix) < len(plaintext) // 2
    stored = " ".join(str(v) for v in ApiKey.select().dicts().get().values())
    assert plaintext not in stored
    assert plaintext[12:] not in stored


def test_authenticate_loads_the_customer_and_revocation_stops_the_key(app, customer):
    key, plaintext = api_keys.create_api_key(customer)
    found = api_keys.authenticate(plaintext)
    assert found.id == key.id and found.user.email == "kees@example.nl"
    assert api_keys.revoke_api_key(found) is True
    assert api_keys.authenticate(plaintext) is None
    assert api_keys.revoke_api_key(found) is False  # second revoke changes nothing


def test_a_valid_looking_unknown_key_is_refused(app, customer):
    assert api_keys.authenticate(api_keys.generate_plaintext()) is None


def test_last_used_at_is_written_at_most_once_a_minute(app, customer):
    key, plaintext = api_keys.create_api_key(customer)
    t0 = datetime.datetime(2026, 3, 1, 12, 0, 0)
    assert api_keys.touch_last_used(api_keys.authenticate(plaintext), t0) is True
    for seconds in (1, 30, 59, 60):  # a fresh load each time, like one request each
        assert api_keys.touch_last_used(api_keys.authenticate(plaintext),
                                        t0 + datetime.timedelta(seconds=seconds)) is False
    assert ApiKey.get_by_id(key.id).last_used_at == t0
    t1 = t0 + datetime.timedelta(seconds=61)
    assert api_keys.touch_last_used(api_keys.authenticate(plaintext), t1) is True
    assert ApiKey.get_by_id(key.id).last_used_at == t1


def test_concurrent_stale_copies_write_only_once(app, customer):
    """Two workers holding the same stale row: the conditional UPDATE lets one through."""
    key, plaintext = api_keys.create_api_key(customer)
    a, b = api_keys.authenticate(plaintext), api_keys.authenticate(plaintext)
    now = datetime.datetime(2026, 3, 1, 12, 0, 0)
    assert api_keys.touch_last_used(a, now) is True
    assert api_keys.touch_last_used(b, now + datetime.timedelta(seconds=5)) is False
    assert ApiKey.get_by_id(key.id).last_used_at == now


def test_key_is_shown_once_on_the_page_then_only_its_prefix(admin_client, customer):
    r = admin_client.post("/customers/%d/api-keys" % customer.id, data={"name": "Claude"})
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "no-store"
    html = r.get_data(as_text=True)
    shown = re.findall(r"exa_[0-9A-Za-z]{38}", html)
    assert len(set(shown)) == 1
    plaintext = shown[0]
    key = ApiKey.get(ApiKey.user == customer.id)
    assert key.key_hash == api_keys.hash_key(plaintext) and key.name == "Claude"
    audit = AuditLog.get(AuditLog.action == "api_key.create")
    assert audit.staff_email == ADMIN_EMAIL and plaintext not in audit.after
    again = admin_client.get("/customers/%d" % customer.id).get_data(as_text=True)
    assert plaintext not in again and key.prefix in again


def test_support_cannot_create_or_revoke_keys(support_client, customer):
    key, _ = api_keys.create_api_key(customer)
    assert support_client.post("/customers/%d/api-keys" % customer.id).status_code == 403
    r = support_client.post("/customers/%d/api-keys/%d/revoke" % (customer.id, key.id))
    assert r.status_code == 403
    assert ApiKey.select().count() == 1
    assert ApiKey.get_by_id(key.id).revoked_at is None


def test_admin_revokes_a_key_audited_and_the_api_answers_401(app, admin_client, customer):
    key, plaintext = api_keys.create_api_key(customer)
    api = app.test_client()
    auth = {"Authorization": "Bearer " + plaintext}
    assert api.get("/api/v1/me", headers=auth).status_code == 200
    r = admin_client.post("/customers/%d/api-keys/%d/revoke" % (customer.id, key.id))
    assert r.status_code == 302
    assert ApiKey.get_by_id(key.id).revoked_at is not None
    entry = AuditLog.get(AuditLog.action == "api_key.revoke")
    assert entry.target_id == str(key.id) and entry.staff_email == ADMIN_EMAIL
    r = api.get("/api/v1/me", headers=auth)
    assert r.status_code == 401 and r.is_json


def test_revoking_another_customers_key_through_this_url_is_404(admin_client, customer):
    other = User.create(email="other@example.nl")
    key, _ = api_keys.create_api_key(other)
    r = admin_client.post("/customers/%d/api-keys/%d/revoke" % (customer.id, key.id))
    assert r.status_code == 404
    assert ApiKey.get_by_id(key.id).revoked_at is None


def test_cli_creates_prints_once_lists_and_revokes(app, runner, customer):
    r = runner.invoke(args=["api-key", "create", "KEES@example.nl", "--name", "cli key"])
    assert r.exit_code == 0, r.output
    plaintext = r.stdout.strip().splitlines()[-1]
    assert api_keys.looks_like_key(plaintext)
    key = api_keys.authenticate(plaintext)
    assert key.user.id == customer.id and key.name == "cli key"
    assert AuditLog.get(AuditLog.action == "api_key.create").staff_email.startswith("cli")
    listing = runner.invoke(args=["api-key", "list", "kees@example.nl"])
    assert listing.exit_code == 0 and key.prefix in listing.output
    assert plaintext not in listing.output
    revoked = runner.invoke(args=["api-key", "revoke", str(key.id)])
    assert revoked.exit_code == 0
    assert api_keys.authenticate(plaintext) is None


def test_cli_unknown_customer_fails_cleanly(app, runner):
    r = runner.invoke(args=["api-key", "create", "nobody@example.nl"])
    assert r.exit_code == 1 and "no customer" in r.output
    assert ApiKey.select().count() == 0
