from tests.conftest import ADMIN_EMAIL


def test_healthz_is_public_json(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.get_json()
    assert body["database"] is True
    assert body["pending_migrations"] == []
    assert body["sidecar_last_seen"] is None


def test_login_and_dashboard(admin_client):
    r = admin_client.get("/")
    assert r.status_code == 200
    assert ADMIN_EMAIL.encode() in r.data


def test_anonymous_is_sent_to_login(client):
    r = client.get("/customers/")
    assert r.status_code in (302, 404)
