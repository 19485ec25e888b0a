"""Keyset pagination, the one way every long list pages (no OFFSET, no COUNT).

A page of a newest-first list ends at a (time, id) pair; the next page asks for
rows strictly older than that pair. `encode_cursor`/`decode_cursor` turn the
pair into the opaque `before=`/`after=` argument, refusing anything they did
not make (BadCursor: the route answers 400). `older_than`/`newer_than` are the
conditions, written so the (time, id) index bounds the range on both engines.
`day_range` turns an inclusive day filter into the [start, end) datetimes the
queries use. The customer list, whose cursor also carries its sort segment,
keeps its own encoding but raises the same BadCursor.
"""
import datetime

from portal.core.ids import MAX_ID


class BadCursor(ValueError):
    """A pagination cursor that this module did not make."""


def encode_cursor(moment, row_id):
    return "%s_%d" % (moment.isoformat(), row_id)


def decode_cursor(value):
    try:
        stamp, _, row_id = value.rpartition("_")
        moment, row_id = datetime.datetime.fromisoformat(stamp), int(row_id)
    except (ValueError, AttributeError, TypeError):
        raise BadCursor("not a page cursor: %r" % (value,))
    if not 0 <= row_id <= MAX_ID or moment.tzinfo is not None:
        raise BadCursor("not a page cursor: %r" % (value,))
    return moment, row_id


def older_than(time_col, id_col, cursor):
    moment, row_id = cursor
    # `time <= moment` bounds the index range; the OR only filters the rows sharing it.
    return (time_col <= moment) & ((time_col < moment) | (id_col < row_id))


def newer_than(time_col, id_col, cursor):
    moment, row_id = cursor
    return (time_col >= moment) & ((time_col > moment) | (id_col > row_id))


def day_range(date_from, date_to):
    """Inclusive calendar days -> [start, end) naive UTC datetimes (None where open)."""
    start = datetime.datetime.combine(date_from, datetime.time()) if date_from else None
    end = (datetime.datetime.combine(date_to, datetime.time()) + datetime.timedelta(days=1)
           if date_to else None)
    return start, end
