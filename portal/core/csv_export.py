"""Streamed CSV downloads (customers, request log, outreach log).

One writer for every export: rows are produced lazily (keyset batches in the
services) and flushed every few hundred lines, so memory stays flat however
long the list is. Cells are neutralised against spreadsheet formula injection,
because customers type emails, names and endpoints that land in these files.
"""
import csv
import io

from flask import Response, stream_with_context

FLUSH_EVERY = 500
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """Text for one CSV cell; a leading formula character is quoted with '."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = value.isoformat(sep=" ") if hasattr(value, "isoformat") else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_response(header, rows, filename):
    """A streamed text/csv attachment: `header` then every row of `rows` (lists)."""

    def generate():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        for n, row in enumerate(rows, 1):
            writer.writerow([safe_cell(v) for v in row])
            if n % FLUSH_EVERY == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return Response(stream_with_context(generate()), mimetype="text/csv", headers={
        "Content-Disposition": 'attachment; filename="%s"' % filename,
        "Cache-Control": "no-store"})
