"""Re-encrypt every stored token under the first TOKEN_ENCRYPTION_KEYS key.

Rows are walked by id in batches (one transaction per batch). A row is only
written back if its ciphertext is still what was read, so a refresh that the
sidecar stores meanwhile is never overwritten with an older token.
"""
from cryptography.fernet import Fernet, InvalidToken

from models import Connection

from portal.exact.crypto import token_cipher
from portal.exact.tokens import write_transaction


class RotationReport:
    def __init__(self):
        self.rotated = 0
        self.already_current = 0
        self.changed_meanwhile = 0
        self.undecryptable = []  # connection ids

    def __repr__(self):
        return "RotationReport(rotated=%d, current=%d, changed=%d, undecryptable=%d)" % (
            self.rotated, self.already_current, self.changed_meanwhile, len(self.undecryptable))


def count_rows():
    return Connection.select().count()


def rotate_all(keys, batch_size=500, progress=None):
    """Rotate every row; `progress(n)` is called after each batch with its size."""
    cipher = token_cipher(keys)
    first = Fernet([k.strip() for k in keys.split(",") if k.strip()][0].encode())
    report = RotationReport()

    def rotated(value):
        if not value:
            return value, False
        try:
            first.decrypt(value.encode())
            return value, False  # already under the first key
        except InvalidToken:
            return cipher.rotate(value.encode()).decode(), True

    last_id = 0
    while True:
        rows = list(Connection.select(Connection.id, Connection.access_token,
                                      Connection.refresh_token)
                    .where(Connection.id > last_id).order_by(Connection.id)
                    .limit(batch_size))
        if not rows:
            break
        with write_transaction():
            for row in rows:
                try:
                    access, a_changed = rotated(row.access_token)
                    refresh, r_changed = rotated(row.refresh_token)
                except InvalidToken:
                    report.undecryptable.append(row.id)
                    continue
                if not (a_changed or r_changed):
                    report.already_current += 1
                    continue
                n = (Connection.update(access_token=access, refresh_token=refresh)
                     .where((Connection.id == row.id)
                            & (Connection.access_token == row.access_token)
                            & (Connection.refresh_token == row.refresh_token))
                     .execute())
                if n:
                    report.rotated += 1
                else:
                    report.changed_meanwhile += 1
        last_id = rows[-1].id
        if progress:
            progress(len(rows))
    return report
