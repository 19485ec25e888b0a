"""Writing imported customers and connections, matched by natural key (used by portal.importer.service).

Customers are matched by email (case-insensitive), connections by (email,
division); a row is only written when a value differs, so re-importing a file
changes nothing. Tokens are encrypted before they reach the database. A
connection whose tokens this portal refreshed since (its stored access token
expires later than the file's) keeps its own live tokens: the file's refresh
token died when ours rotated. `refresh_failed` from the old system (which gave
up after one error) comes in as retry_pending, retry_count 0, due now, like
migration 0011 does for rows already here. Usage goes to portal.importer.usage.
"""
from peewee import fn

from models import Connection, User

from portal.exact.crypto import InvalidToken, decrypt_token, encrypt_token
from portal.importer.usage import UsageImport, bulk_insert

LOOKUP_CHUNK = 500


class ImportAborted(RuntimeError):
    """The database changed under the import in a way it cannot handle; rolled back."""


def _chunks(items, size=LOOKUP_CHUNK):
    items = list(items)
    for i in range(0, len(items), size):
        yield items[i:i + size]


def insert_rows(model, rows):
    """model.insert_many(rows) (dicts with the same keys, by field name), through the
    driver's bulk path: peewee builds the SQL value by value, which for ten thousand
    customers or connections took longer than encrypting their tokens. Values go
    through each field's db_value and missing fields get the model's defaults, as
    insert_many does."""
    if not rows:
        return
    meta = model._meta
    names = list(rows[0])
    fields = [meta.fields[name] for name in names]
    defaults = [(field, default) for field, default in meta.defaults.items()
                if field.name not in rows[0]]
    params = []
    for row in rows:
        values = [field.db_value(row[name]) for field, name in zip(fields, names)]
        values += [field.db_value(default() if callable(default) else default)
                   for field, default in defaults]
        params.append(values)
    columns = [field.column_name for field in fields + [field for field, _ in defaults]]
    bulk_insert(meta.table_name, columns, params)


def existing_customer_ids(emails):
    """{lower-case email: id} for the customers among `emails` already in the database."""
    found = {}
    for chunk in _chunks(emails):
        query = (User.select(fn.LOWER(User.email), User.id)
                 .where(fn.LOWER(User.email).in_(chunk)).tuples())
        found.update(query)
    return found


class ImportWriter:
    """Writes validated records by natural key; counts go to `summary`."""

    def __init__(self, token_keys, now, summary):
        self.keys = token_keys
        self.now = now
        self.summary = summary
        self.user_ids = {}
        self.usage_import = UsageImport(summary)

    # customers
    def customers(self, records):
        latest = {r.email: r for r in records}  # a later line for the same email wins
        existing = {}
        for chunk in _chunks(latest):
            for user in (User.select(User.id, User.email, User.name, User.plan, User.created_at)
                         .where(fn.LOWER(User.email).in_(chunk))):
                existing[user.email.lower()] = user
        new_rows = []
        for email, rec in latest.items():
            user = existing.get(email)
            if user is None:
                new_rows.append(dict(email=email, name=rec.name or "", plan=rec.plan,
                                     created_at=rec.created_at or self.now))
                continue
            self.user_ids[email] = user.id
            changes = {}
            if rec.name is not None and rec.name != user.name:
                changes[User.name] = rec.name
            if rec.plan != user.plan:
                changes[User.plan] = rec.plan
            if rec.created_at is not None and rec.created_at != user.created_at:
                changes[User.created_at] = rec.created_at
            if changes:
                User.update(changes).where(User.id == user.id).execute()
                self.summary.customers_updated += 1
            else:
                self.summary.customers_skipped += 1
        if new_rows:
            insert_rows(User, new_rows)
            self.user_ids.update(existing_customer_ids([r["email"] for r in new_rows]))
            self.summary.customers_created += len(new_rows)

    def resolve(self, emails):
        missing = [e for e in set(emails) if e not in self.user_ids]
        if missing:
            self.user_ids.update(existing_customer_ids(missing))
        gone = [e for e in missing if e not in self.user_ids]
        if gone:
            raise ImportAborted("customer %s disappeared from the database during the import"
                                % gone[0])

    # connections
    def _connection_values(self, rec):
        values = dict(token_expires_at=rec.token_expires_at,
                      refresh_expires_at=rec.refresh_expires_at,
                      status=rec.status,
                      retry_count=rec.retry_count or 0,
                      next_retry_at=rec.next_retry_at,
                      last_error=rec.last_error)
        if rec.status == "refresh_failed":
            # The old system gave up after one error; ours retries from now.
            values.update(status="retry_pending", retry_count=0, next_retry_at=self.now)
        if hasattr(Connection, "failure_kind"):
            # New tokens from the file start the state machine afresh (portal.exact.tokens).
            values["failure_kind"] = None
        # New tokens from the file: the connection now is what the import made it.
        values.update(origin="imported", origin_at=self.now)
        return values

    def connections(self, records):
        latest = {(r.email, r.division): r for r in records}
        self.resolve(email for email, _ in latest)
        wanted = {(self.user_ids[e], d): rec for (e, d), rec in latest.items()}
        existing = {}
        for chunk in _chunks({uid for uid, _ in wanted}):
            for conn in Connection.select().where(Connection.user.in_(chunk)):
                key = (conn.user_id, conn.division)
                if key in wanted:
                    existing[key] = conn
        new_rows = []
        for (uid, division), rec in wanted.items():
            conn = existing.get((uid, division))
            if conn is None:
                new_rows.append(dict(
                    user=uid, division=division, created_at=self.now, updated_at=self.now,
                    access_token=encrypt_token(self.keys, rec.access_token),
                    refresh_token=encrypt_token(self.keys, rec.refresh_token),
                    **self._connection_values(rec)))
            elif self._same_tokens(conn, rec) or (
                    conn.token_expires_at and conn.token_expires_at > rec.token_expires_at):
                # Same tokens: the file brings nothing new, and the state machine owns
                # status and retries from here. Newer tokens here: the file is stale.
                self.summary.connections_skipped += 1
            else:
                values = self._connection_values(rec)
                values.update(access_token=encrypt_token(self.keys, rec.access_token),
                              refresh_token=encrypt_token(self.keys, rec.refresh_token),
                              updated_at=self.now)
                Connection.update(values).where(Connection.id == conn.id).execute()
                self.summary.connections_updated += 1
        insert_rows(Connection, new_rows)
        self.summary.connections_created += len(new_rows)

    def _same_tokens(self, conn, rec):
        try:
            return (conn.token_expires_at == rec.token_expires_at
                    and decrypt_token(self.keys, conn.refresh_token) == rec.refresh_token
                    and decrypt_token(self.keys, conn.access_token) == rec.access_token)
        except InvalidToken:  # encrypted under a removed key: the file's tokens are better
            return False

    # usage
    def usage(self, spooled):
        """`spooled`: usage lines as validation spooled them (email, timestamp text,
        endpoint, status, duration_ms), in file order -> portal.importer.usage, with
        customer ids instead of emails."""
        ids = self.user_ids
        try:
            rows = [(ids[email], ts, endpoint, status, duration)
                    for email, ts, endpoint, status, duration in spooled]
        except KeyError:  # a customer that was in the database before, not in the file
            self.resolve({row[0] for row in spooled})
            rows = [(ids[email], ts, endpoint, status, duration)
                    for email, ts, endpoint, status, duration in spooled]
        self.usage_import.add(rows)
