"""Whole numbers that arrive as text (paths, query strings, hidden fields), without Flask.

Every id column is a 64-bit integer. A larger number cannot name a row, and
SQLite refuses to even compare with one (OverflowError, a 500), so a number
outside 0..MAX_ID is bad input, refused before any query sees it.
"""

MAX_ID = 2 ** 63 - 1  # BIGINT
_MAX_DIGITS = len(str(MAX_ID))


def parse_id(raw, minimum=0, maximum=MAX_ID):
    """`raw` as an int when it is plain ASCII digits within minimum..maximum, else None.

    No sign, spaces, underscores or non-ASCII digits (all of which int() would
    take), and no parsing of thousands of digits just to refuse them.
    """
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        number = raw
    elif (isinstance(raw, str) and 0 < len(raw) <= _MAX_DIGITS and raw.isascii()
          and raw.isdigit()):
        number = int(raw)
    else:
        return None
    return number if minimum <= number <= min(maximum, MAX_ID) else None
