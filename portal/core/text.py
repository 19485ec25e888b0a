"""What counts as acceptable text, without Flask: the forms, the JSON API, the import
and the services all refuse the same characters with the same words."""
import unicodedata

SHORT_FIELD_MAX = 10 * 1024       # "short field": names, subjects, search boxes, emails
LONG_FIELD_MAX = 100 * 1024       # template bodies and other text areas
MULTILINE_ALLOWED = frozenset("\n\r\t")

CONTROL_MESSAGE = "Remove control characters (invisible characters such as NUL or ESC)."
BIDI_MESSAGE = ("Remove invisible text-direction characters (U+202A to U+202E, U+2066 to "
                "U+2069): they make text show in a different order than it is stored.")
# Bidirectional embeddings, overrides and isolates ("Trojan Source"): a customer name
# with U+202E shows reversed on a staff page, which escaping does not prevent. The
# marks U+200E/U+200F, ZWJ and ZWNJ stay allowed: real names and emoji use them.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
ENCODING_MESSAGE = "This text is not valid UTF-8; please retype it."


def find_text_problem(value, max_len=SHORT_FIELD_MAX, multiline=False):
    """The message explaining why `value` is not acceptable text, or None.

    Usable outside WTForms (e.g. JSON handlers, CLI) with the same wording.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        value = str(value)
    if "\ufffd" in value:
        return ENCODING_MESSAGE
    allowed = MULTILINE_ALLOWED if multiline else frozenset()
    for ch in value:
        if ch in allowed:
            continue
        # Cc = C0/C1 controls incl. DEL; Cs = lone surrogates (cannot be stored).
        if unicodedata.category(ch) in ("Cc", "Cs") or ch in "\u2028\u2029":
            return CONTROL_MESSAGE
        if ch in BIDI_CONTROLS:
            return BIDI_MESSAGE
    if len(value) > max_len:
        return "Too long: at most %d characters (you sent %d)." % (max_len, len(value))
    return None
