"""How usernames and emails compare as people read them: NFC, case folding, an email's domain in Unicode.

A user is stored as given but in NFC, the form that ``é`` typed as one character or as ``e`` plus
an accent share. Two users may not share a *key*: the NFC form, case-folded (``Bob`` = ``bob``,
``Straße`` = ``STRASSE``) without variation selectors, which change how a character is drawn but
not which one it is; an email's domain is read in Unicode first (``xn--exmple-cua`` = ``exämple``).
The database holds the keys in unique columns, so it refuses a duplicate that any writer, not only
this module, tries to store.
"""

from __future__ import annotations

import unicodedata

_WITHOUT_VARIATION_SELECTORS = dict.fromkeys([*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)])
KEY_MAX_FACTOR = 3  # case folding turns one character into at most three (``ΐ`` → ``ΐ``)


def normal_form(text: str) -> str:
    """``text`` in NFC, the form users are stored in."""
    return text if text.isascii() else unicodedata.normalize("NFC", text)  # ASCII is NFC already


def comparison_key(text: str) -> str:
    """What two names or emails share when people read them as the same: NFC, case-folded."""
    if text.isascii():  # most names: NFC already, and case folding is lower()
        return text.lower()
    kept = normal_form(text).translate(_WITHOUT_VARIATION_SELECTORS)
    return unicodedata.normalize("NFC", kept.casefold())


def email_key(email: str) -> str:
    """An email's key: ``comparison_key`` of the address with its domain's A-labels (``xn--…``) read as
    the Unicode they encode, so ``ü@xn--exmple-cua.com`` is ``ü@exämple.com``, the same mailbox."""
    local, at, domain = email.rpartition("@")
    if "xn--" in domain.lower():
        domain = ".".join(_u_label(label) for label in domain.split("."))
    return comparison_key(f"{local}{at}{domain}")


def _u_label(label: str) -> str:
    """A domain label as Unicode: an A-label decoded (RFC 3492 punycode), anything else as it is."""
    if label[:4].lower() != "xn--" or not label.isascii():
        return label
    try:
        decoded = label[4:].encode("ascii").decode("punycode")
    except UnicodeError:
        return label
    return label if decoded.isascii() else decoded  # an A-label always encodes some non-ASCII
