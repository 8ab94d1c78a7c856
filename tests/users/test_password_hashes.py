"""An imported password_hash is accepted only when Werkzeug can check it, at a bounded cost."""

from __future__ import annotations

import itertools

import pytest
from werkzeug.security import check_password_hash, generate_password_hash

from project.errors import InvalidInput
from project.users.passwords import (
    MAX_PBKDF2_ITERATIONS,
    MAX_SCRYPT_WORK,
    PBKDF2_DIGESTS,
    check_password_hash_format,
    scrypt_checkable,
)

SALT, HEX = "abcdefghabcdefgh", "0" * 128


def werkzeug_makes(method: str) -> bool:
    try:
        generate_password_hash("x", method=method)
    except ValueError:
        return False
    return True


def test_scrypt_parameters_are_accepted_exactly_when_werkzeug_can_check_them() -> None:
    """Every cheap combination, against Werkzeug and OpenSSL themselves."""
    for exponent, r, p in itertools.product(range(1, 13), (1, 2, 3, 8, 16), (1, 2, 3, 16)):
        n = 2**exponent
        assert scrypt_checkable(n, r, p) == werkzeug_makes(f"scrypt:{n}:{r}:{p}"), (n, r, p)
    assert scrypt_checkable(2**15, 1, 1) and not scrypt_checkable(2**16, 1, 1)  # OpenSSL: N < 2**(16 r)
    assert scrypt_checkable(2**19, 8, 1) and not scrypt_checkable(2**20, 8, 1)  # 1 GiB: over the bound
    assert not scrypt_checkable(3 * 2**10, 8, 1)  # not a power of 2


@pytest.mark.parametrize("digest", sorted(PBKDF2_DIGESTS))
def test_every_accepted_pbkdf2_digest_is_checked_by_werkzeug(digest: str) -> None:
    made = generate_password_hash("secret-password", method=f"pbkdf2:{digest}:1000")
    check_password_hash_format(made)
    assert check_password_hash(made, "secret-password")


@pytest.mark.parametrize(
    "value",
    [
        f"pbkdf2:shake_128:1000${SALT}${HEX}",  # Werkzeug: "no reason supplied"
        f"pbkdf2:shake_256${SALT}${HEX}",
        f"pbkdf2:sha512:{MAX_PBKDF2_ITERATIONS + 1}${SALT}${HEX}",  # minutes at 999999999
        f"pbkdf2:sha256:0${SALT}${HEX}",
        f"scrypt:1048576:8:2${SALT}${HEX}",  # Werkzeug: "maxmem must be positive and smaller than 2147483647"
        f"scrypt:{MAX_SCRYPT_WORK}:2:1${SALT}${HEX}",
        f"scrypt:16:1:1${SALT}${HEX}",  # OpenSSL: memory limit exceeded
        f"scrypt:65536:1:1${SALT}${HEX}",
    ],
)
def test_a_hash_werkzeug_cannot_check_or_would_take_long_to_is_invalid_input(value: str) -> None:
    with pytest.raises(InvalidInput, match="not a hash made by Werkzeug"):
        check_password_hash_format(value)


def test_the_default_and_werkzeugs_own_hashes_are_accepted() -> None:
    from project.users.passwords import PASSWORD_METHOD

    for method in (PASSWORD_METHOD, "scrypt", "pbkdf2", "pbkdf2:sha512:600000"):
        check_password_hash_format(generate_password_hash("secret-password", method=method))


def test_a_stored_hash_werkzeug_cannot_check_is_invalid_input_not_a_crash() -> None:
    from project.users.passwords import password_matches

    with pytest.raises(InvalidInput, match="the stored password hash cannot be checked"):
        password_matches(f"pbkdf2:shake_128:1000${SALT}${HEX}", "secret-password")


def test_a_password_is_one_whichever_way_its_accents_are_typed() -> None:
    """NFC: six "é" typed as e plus a combining accent are six characters (under a minimum of 12),
    and a password set composed is checked typed decomposed, and the other way round."""
    from project.users.passwords import hash_password, password_matches

    composed, decomposed = "\u00e9t\u00e9 \u00e0 Par\u00eds", "e\u0301te\u0301 a\u0300 Pari\u0301s"
    with pytest.raises(InvalidInput, match="6 characters long; the minimum is 12"):
        hash_password("e\u0301" * 6, 12)
    for stored, typed in ((composed, decomposed), (decomposed, composed), (composed, composed)):
        assert password_matches(hash_password(stored, 8), typed)
    assert not password_matches(hash_password(composed, 8), "ete a Paris")
    made_before = generate_password_hash(decomposed, method="scrypt:1024:8:1")  # raw, as hashes were made before
    assert password_matches(made_before, decomposed)
