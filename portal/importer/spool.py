"""Validated records kept on disk between validation and import (used by portal.importer.service).

Validation parses every line once and writes what it parsed here, so the import
reads compact, already checked records instead of parsing the JSON a second
time (parsing was half of an import's time), and a file changed after
validation can no longer slip into the database. Memory stays flat: records go
to anonymous temporary files (deleted by the operating system when closed, even
after a crash) in chunks of CHUNK.

Usage rows, nearly all of a file, are plain tuples of ints and strings written
with marshal (the fastest serialiser in the standard library; the files never
leave this process); customers and connections are few and go through pickle.
"""
import marshal
import pickle
import struct
import tempfile

CHUNK = 5000
KINDS = ("customer", "connection", "api_usage")
_DUMPS = {"customer": pickle.dumps, "connection": pickle.dumps, "api_usage": marshal.dumps}
_LOADS = {"customer": pickle.loads, "connection": pickle.loads, "api_usage": marshal.loads}
# Each chunk is written as its length and its bytes: marshal.load() on a file reads
# in small pieces through the file object, several times slower than loads().
_FRAME = struct.Struct("<Q")


class Spool:
    def __init__(self):
        self._files = {}
        self._pending = {kind: [] for kind in KINDS}
        self.counts = dict.fromkeys(KINDS, 0)

    def appender(self, kind):
        """A fast `append(item)` for records of one kind (flushes every CHUNK)."""
        pending = self._pending[kind]

        def append(item):
            pending.append(item)
            if len(pending) >= CHUNK:
                self.write(kind, pending)
        return append

    def write(self, kind, records):
        """Write `records` (a list, emptied) of `kind` as one chunk."""
        if not records:
            return
        fh = self._files.get(kind)
        if fh is None:
            fh = self._files[kind] = tempfile.TemporaryFile(prefix="portal-import-")
        data = _DUMPS[kind](records)
        fh.write(_FRAME.pack(len(data)))
        fh.write(data)
        self.counts[kind] += len(records)
        records.clear()

    def finish(self):
        for kind in KINDS:
            self.write(kind, self._pending[kind])

    def read(self, kind, size):
        """Lists of at most `size` records of `kind`, in file order."""
        fh = self._files.get(kind)
        if fh is None:
            return
        fh.seek(0)
        loads = _LOADS[kind]
        batch = []
        while True:
            head = fh.read(_FRAME.size)
            if not head:
                break
            (length,) = _FRAME.unpack(head)
            batch.extend(loads(fh.read(length)))
            while len(batch) >= size:
                yield batch[:size]
                del batch[:size]
        if batch:
            yield batch

    def close(self):
        for fh in self._files.values():
            fh.close()
        self._files.clear()
