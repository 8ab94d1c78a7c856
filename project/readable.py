"""Whether a name reads as itself on a screen: what usernames, emails and schedule names share."""

from __future__ import annotations

import unicodedata

# Code points that draw nothing on their own and are not control or format characters, which
# str.isprintable() already rejects: Unicode's Default_Ignorable_Code_Point letters and marks
# (Hangul fillers, the combining grapheme joiner, Khmer inherent vowels, Mongolian variation
# selectors) and the blank Braille pattern.
DRAWS_NOTHING = frozenset(
    [0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180B, 0x180C, 0x180D, 0x180F, 0x2800, 0x3164, 0xFFA0]
)


def invisible_part(name: str) -> str | None:
    """Why ``name`` (already printable, no spaces) would not read as itself, or None when it does."""
    if name.isascii():  # no combining marks, nothing in DRAWS_NOTHING
        return None
    if name and unicodedata.category(name[0]).startswith("M"):
        return "starts with a combining mark, which has no letter to sit on"
    if any(ord(char) in DRAWS_NOTHING for char in name):
        return "contains a character that draws nothing"
    return None
