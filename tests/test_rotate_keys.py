"""`flask --app app rotate-keys`: every row re-encrypted under the first key."""
from cryptography.fernet import Fernet, InvalidToken
import pytest

from models import Connection
from portal.exact.crypto import decrypt_token, encrypt_token
from tests.conftest import TEST_TOKEN_KEY
from tests.sidecar_helpers import make_connection


def test_rotate_keys_reencrypts_every_row_in_batches(app, runner):
    conns = [make_connection(division=i) for i in range(7)]
    plain = {c.id: (decrypt_token(TEST_TOKEN_KEY, c.access_token),
                    decrypt_token(TEST_TOKEN_KEY, c.refresh_token)) for c in conns}
    new_key = Fernet.generate_key().decode()
    app.config["TOKEN_ENCRYPTION_KEYS"] = new_key + "," + TEST_TOKEN_KEY
    result = runner.invoke(args=["rotate-keys", "--batch-size", "3"])
    assert result.exit_code == 0, result.output
    assert "rotated 7" in result.output
    for row in Connection.select():
        # The new key alone now decrypts everything; nothing is plaintext.
        assert (decrypt_token(new_key, row.access_token),
                decrypt_token(new_key, row.refresh_token)) == plain[row.id]
        assert plain[row.id][1] not in row.refresh_token
        with pytest.raises(InvalidToken):
            decrypt_token(TEST_TOKEN_KEY, row.refresh_token)
    again = runner.invoke(args=["rotate-keys"])
    assert again.exit_code == 0 and "already under the first key 7" in again.output


def test_rotate_keys_reports_rows_no_key_decrypts(app, runner):
    make_connection()
    stray = make_connection(division=2)
    Connection.update(refresh_token=encrypt_token(Fernet.generate_key().decode(), "x")).where(
        Connection.id == stray.id).execute()
    result = runner.invoke(args=["rotate-keys"])
    assert result.exit_code == 1
    assert "undecryptable 1" in result.output and str(stray.id) in result.output
