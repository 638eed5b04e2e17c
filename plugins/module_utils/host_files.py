# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""File helpers for host-side modules: standard library only (a managed host needs Python, nothing else)."""

from __future__ import annotations

import os
import re
import tempfile

# RFC 8555 §8.1: base64url, no padding. A CA-supplied token becomes a file name: nothing else may pass.
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")
MAX_TOKEN_LENGTH = 256
CHALLENGE_SUBDIR = os.path.join(".well-known", "acme-challenge")


def token_error(token):
    """Return an error message for a token we refuse, or None when it is acceptable."""
    if not isinstance(token, str) or token == "":
        return "token %r is empty or not a string (RFC 8555 §8.1); refusing to write outside the webroot" % (token,)
    if len(token) > MAX_TOKEN_LENGTH:
        return ("token of %d characters is longer than %d (RFC 8555 §8.1 tokens are 43 characters); refusing it"
                % (len(token), MAX_TOKEN_LENGTH))
    if not TOKEN_PATTERN.match(token):
        return ("token %r is not base64url (RFC 8555 §8.1); refusing to write outside the webroot"
                % token[:60])
    return None


def challenge_path(webroot, token):
    return os.path.join(webroot, CHALLENGE_SUBDIR, token)


def read_bytes(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def atomic_write(path, data, mode):
    """Write ``data`` to ``path`` through a temp file in the same directory, fsync, rename.

    A reader (the web server, the CA's validator) sees the old file or the new one, never half of it.
    The mode is set on the temp file before any byte is written, so a key is never world-readable.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".certfleet-", dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def ensure_dir(path, mode):
    """mkdir -p with an explicit mode on every directory we create; returns True when one was created."""
    created = False
    missing = []
    current = path
    while current and not os.path.isdir(current):
        missing.append(current)
        current = os.path.dirname(current)
    for directory in reversed(missing):
        os.mkdir(directory, mode)
        os.chmod(directory, mode)  # umask must not narrow a webroot directory nginx workers traverse
        created = True
    return created


def replace_symlink(link, target):
    """Point ``link`` at ``target`` atomically (rename of a new symlink over the old one)."""
    tmp = "%s.certfleet-%d" % (link, os.getpid())
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, link)
