"""Password hashing: Werkzeug's ``generate_password_hash`` with the method pinned here, not left to its default.

A stored hash reads ``scrypt:32768:8:1$SALT$HASH``: scrypt with N=32768 (2**15), r=8, p=1, a
16-character random salt and the 64-byte key in hex (162 characters in all). Werkzeug's
``check_password_hash`` reads the method back from the stored string, so hashes made with other
Werkzeug methods (``pbkdf2:sha256:600000$…``, imported from elsewhere) keep working.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from project.errors import SET_PASSWORD, InvalidInput

PASSWORD_METHOD = "scrypt:32768:8:1"  # the one place the method is chosen (docs/commands.md, `user set-password`)
SALT_LENGTH = 16
DEFAULT_MIN_LENGTH = 12
MAX_LENGTH = 1024  # characters; far beyond any passphrase, and keeps a mistaken file out of the hash
# What Werkzeug 2.3+ writes: METHOD$SALT$HEX, METHOD being scrypt:N:r:p or pbkdf2:HASH[:ITERATIONS].
_WERKZEUG_HASH = re.compile(
    r"(?:scrypt:(?P<n>\d{1,8}):(?P<r>\d{1,2}):(?P<p>\d{1,2})"
    r"|pbkdf2:(?P<digest>[a-z0-9_]{1,20})(?::(?P<iterations>\d{1,9}))?)"
    r"\$[A-Za-z0-9]{1,64}\$[0-9a-f]{32,256}"
)
# What checking an imported hash may cost, so that `user check-password` ends in about a second or two:
# scrypt's N*r*p (Werkzeug asks hashlib for 132*N*r*p bytes) up to 16 times PASSWORD_METHOD's, and
# pbkdf2's iterations up to 4 times Werkzeug's default (1,000,000 since Werkzeug 3.1).
MAX_SCRYPT_WORK = 2**22
MAX_PBKDF2_ITERATIONS = 4_000_000
# The digests pbkdf2 can use: HMAC needs a fixed-size digest, which shake_128 and shake_256 are not.
PBKDF2_DIGESTS = frozenset(hashlib.algorithms_guaranteed - {"shake_128", "shake_256"})


def _nfc(password: str) -> str:
    """``password`` in NFC: ``é`` typed as one character or as ``e`` plus an accent is one password, of one length."""
    return password if password.isascii() else unicodedata.normalize("NFC", password)


def hash_password(password: str, min_length: int) -> str:
    """The hash to store for ``password`` (in NFC); InvalidInput when it is shorter than ``min_length``
    characters or over MAX_LENGTH."""
    password = _nfc(password)
    if len(password) < max(min_length, 1):
        raise InvalidInput(
            f"the password is {len(password)} characters long; the minimum is {max(min_length, 1)}",
            hint="APPCTL_MIN_PASSWORD_LENGTH sets the minimum",
        )
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"the password is {len(password)} characters long; the limit is {MAX_LENGTH}")
    from werkzeug.security import generate_password_hash  # Werkzeug loads its server: only when hashing

    return generate_password_hash(password, method=PASSWORD_METHOD, salt_length=SALT_LENGTH)


def password_matches(password_hash: str | None, password: str) -> bool:
    """True when ``password`` is the one ``password_hash`` was made from (never for no hash).

    InvalidInput for a stored hash Werkzeug cannot check (one imported before imports were checked as now).
    """
    from werkzeug.security import check_password_hash

    if password_hash is None:
        return False
    try:
        if check_password_hash(password_hash, _nfc(password)):
            return True
        # A hash made before passwords were stored in NFC (or elsewhere, imported) may hold another form.
        return _nfc(password) != password and check_password_hash(password_hash, password)
    except ValueError as exc:
        raise InvalidInput(f"the stored password hash cannot be checked: {exc}", remedy=SET_PASSWORD) from None


def check_password_hash_format(value: str) -> None:
    """Raise InvalidInput unless ``value`` (an import's ``password_hash``) is a hash Werkzeug made and
    can check at a bounded cost."""
    found = _WERKZEUG_HASH.fullmatch(value)
    if found and found["n"]:
        usable = scrypt_checkable(int(found["n"]), int(found["r"]), int(found["p"]))
    elif found:
        iterations = int(found["iterations"] or 1)
        usable = found["digest"] in PBKDF2_DIGESTS and 0 < iterations <= MAX_PBKDF2_ITERATIONS
    else:
        usable = False
    if not usable:
        raise InvalidInput(
            "password_hash is not a hash made by Werkzeug's generate_password_hash"
            " (METHOD$SALT$HEX, METHOD scrypt:N:r:p with N a power of 2 and N*r*p up to 2**22,"
            " or pbkdf2:HASH[:ITERATIONS] with up to 4000000 iterations)"
        )


def scrypt_checkable(n: int, r: int, p: int) -> bool:
    """Whether Werkzeug can check an scrypt hash of these parameters, within MAX_SCRYPT_WORK.

    OpenSSL's scrypt needs N a power of 2 (below 2**16 when r is 1) and 128*r*(N + p + 2) bytes,
    and Werkzeug allows it 132*N*r*p (checked against Werkzeug 3.1 and OpenSSL 3 in tests).
    """
    power_of_two = n > 1 and n & (n - 1) == 0
    within = r > 0 and p > 0 and n * r * p <= MAX_SCRYPT_WORK
    return power_of_two and within and (r > 1 or n < 2**16) and 128 * r * (n + p + 2) <= 132 * n * r * p
