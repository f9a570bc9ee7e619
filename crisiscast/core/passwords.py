"""Password hashes and the password policy: pure functions, no I/O.

Hashes are scrypt at Werkzeug's current default cost, written in Werkzeug's own format
(`scrypt:32768:8:1$salt$hex`), so werkzeug.security.check_password_hash reads them too. We do not call
Werkzeug itself because nothing below the web layer may import it. Hashes of the first format
(`scrypt$16384$8$1$salthex$hex`, a lower cost) still verify, and `needs_rehash` says to replace them.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import string

from zxcvbn import zxcvbn

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
METHOD = f"scrypt:{SCRYPT_N}:{SCRYPT_R}:{SCRYPT_P}"
MIN_LENGTH = 12
MAX_LENGTH = 200
MIN_SCORE = 3  # zxcvbn: 3 is "safely unguessable: moderate protection from offline slow-hash scenario"
_SALT_CHARS = string.ascii_letters + string.digits


def hash_password(password: str) -> str:
    """A salted scrypt hash of `password` in Werkzeug's format, at the current cost."""
    salt = "".join(secrets.choice(_SALT_CHARS) for _ in range(16))
    return f"{METHOD}${salt}${_scrypt(password, salt.encode(), SCRYPT_N, SCRYPT_R, SCRYPT_P, 64).hex()}"


def check_password(stored: str, password: str) -> bool:
    """True when `password` matches `stored` (either hash format); False for a malformed hash."""
    try:
        if stored.startswith("scrypt$"):
            _, n, r, p, salt, digest = stored.split("$")
            salt_bytes = bytes.fromhex(salt)
        else:
            method, salt, digest = stored.split("$")
            name, n, r, p = method.split(":")
            if name != "scrypt":
                return False
            salt_bytes = salt.encode()
        computed = _scrypt(password, salt_bytes, int(n), int(r), int(p), len(digest) // 2)
    except ValueError:
        return False
    return hmac.compare_digest(computed.hex(), digest)


def needs_rehash(stored: str) -> bool:
    """True when `stored` is of an older format or cost than `hash_password` writes now."""
    return stored.split("$", 1)[0] != METHOD


def password_problem(password: str, username: str = "") -> str | None:
    """Why `password` is not good enough for `username`, in words for the form; None when it is."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    name = username.strip().lower()
    if name and name in password.lower():
        return "The password must not contain the username."
    # zxcvbn refuses (ValueError) more than 72 characters; the first 72 decide how guessable it is.
    result = zxcvbn(password[:72], user_inputs=[name] if name else None)
    if result["score"] < MIN_SCORE:
        feedback = result["feedback"]
        advice = " ".join(filter(None, [feedback.get("warning"), *feedback.get("suggestions", [])]))
        return ("This password is too easy to guess. " + (advice or "Use a few uncommon words.")).strip()
    return None


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    # Werkzeug's margin over the 128·n·r·p bytes scrypt needs (OpenSSL's default cap is 32 MiB, too low).
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=132 * n * r * p, dklen=dklen)
