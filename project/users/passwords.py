"""Password hashing: Werkzeug's ``generate_password_hash`` with the method pinned here, not left to its default.

A stored hash reads ``scrypt:32768:8:1$SALT$HASH``: scrypt with N=32768 (2**15), r=8, p=1, a
16-character random salt and the 64-byte key in hex (162 characters in all). Werkzeug's
``check_password_hash`` reads the method back from the stored string, so hashes made with other
Werkzeug methods (``pbkdf2:sha256:600000$…``, imported from elsewhere) keep working.
"""

from __future__ import annotations

import hashlib
import re

from project.errors import InvalidInput

PASSWORD_METHOD = "scrypt:32768:8:1"  # the one place the method is chosen (docs/commands.md, `user set-password`)
SALT_LENGTH = 16
DEFAULT_MIN_LENGTH = 12
MAX_LENGTH = 1024  # characters; far beyond any passphrase, and keeps a mistaken file out of the hash
# What Werkzeug 2.3+ writes: METHOD$SALT$HEX, METHOD being scrypt:N:r:p or pbkdf2:HASH[:ITERATIONS].
_WERKZEUG_HASH = re.compile(
    r"(?:scrypt:(?P<n>\d{1,8}):(?P<r>\d{1,2}):(?P<p>\d{1,2})|pbkdf2:(?P<digest>[a-z0-9_]{1,20})(?::\d{1,9})?)"
    r"\$[A-Za-z0-9]{1,64}\$[0-9a-f]{32,256}"
)
MAX_SCRYPT_COST = 2**20  # N: checking a hash costs 128 * N * r bytes; 2**20 with r=8 is 1 GiB


def hash_password(password: str, min_length: int) -> str:
    """The hash to store for ``password``; InvalidInput when it is shorter than ``min_length`` or over MAX_LENGTH."""
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
    """True when ``password`` is the one ``password_hash`` was made from (never for no hash)."""
    from werkzeug.security import check_password_hash

    return password_hash is not None and check_password_hash(password_hash, password)


def check_password_hash_format(value: str) -> None:
    """Raise InvalidInput unless ``value`` has the shape of a hash Werkzeug made (an import's ``password_hash``)."""
    found = _WERKZEUG_HASH.fullmatch(value)
    if found and found["n"]:
        cost, block, parallel = int(found["n"]), int(found["r"]), int(found["p"])
        usable = 1 < cost <= MAX_SCRYPT_COST and cost & (cost - 1) == 0 and 0 < block <= 8 and 0 < parallel <= 16
    else:
        usable = bool(found) and found["digest"] in hashlib.algorithms_guaranteed  # type: ignore[index]
    if not usable:
        raise InvalidInput(
            "password_hash is not a hash made by Werkzeug's generate_password_hash"
            " (METHOD$SALT$HEX, METHOD scrypt:N:r:p with N a power of 2 up to 2**20, or pbkdf2:HASH:ITERATIONS)"
        )
