# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""File (and served-certificate) helpers for host-side modules: standard library only (a managed host needs Python,
nothing else)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import socket
import ssl
import tempfile
import time

# RFC 8555 §8.1: base64url, no padding. A CA-supplied token becomes a file name: nothing else may pass.
# Always fullmatch(): with match() and "$", "evil\n" passes (Python's "$" also matches before a final newline).
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]+")
MAX_TOKEN_LENGTH = 256
CHALLENGE_SUBDIR = os.path.join(".well-known", "acme-challenge")
# Written by certificate_deploy before it switches ``live`` and removed once the server is confirmed to serve
# the new pair: a run killed in between leaves it, and the next decision treats the certificate as due.
DEPLOY_MARKER = "deploying.json"
LOCK_FILE = ".certfleet.lock"
STAGED_DIR = "next"
# Written by certificate_deploy into each release: the certificate's validity, "<not_before> <not_after>" in epoch
# seconds, so that certificate_state can guess without parsing X.509 whether it is probably due. Only a hint for
# staging ahead; the renewal decision is always the control node's, from the certificate itself.
VALIDITY_FILE = "validity"
# The directory a web role (or the test rig) points `live` at before the first certificate: always due.
PLACEHOLDER_DIR = "placeholder"


def token_error(token):
    """Return an error message for a token we refuse, or None when it is acceptable."""
    if not isinstance(token, str) or token == "":
        return "token %r is empty or not a string (RFC 8555 §8.1); refusing to write outside the webroot" % (token,)
    if len(token) > MAX_TOKEN_LENGTH:
        return ("token of %d characters is longer than %d (RFC 8555 §8.1 tokens are 43 characters); refusing it"
                % (len(token), MAX_TOKEN_LENGTH))
    if not TOKEN_PATTERN.fullmatch(token):
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


def atomic_write(path, data, mode=0o600, sync_dir=False):
    """Write ``data`` to ``path`` through a temp file in the same directory, fsync, rename.

    A reader (the web server, the CA's validator) sees the old file or the new one, never half of it.
    The mode is set on the temp file before any byte is written, so a key is never world-readable.
    ``sync_dir``: fsync the directory too, so that the rename itself survives a crash (the key store asks for it: its
    files are the only copy of a key).
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
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if sync_dir:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def served_leaf_der(address, port, server_name, timeout):
    """DER of the leaf certificate a TLS server presents for ``server_name``, not verified: callers compare its bytes
    (the deploy's check from the host) or read its names and dates (a renewal decision over TLS). Raises OSError,
    ssl.SSLError, or ValueError (a server name Python refuses)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((address, port), timeout=timeout) as sock:
        with context.wrap_socket(sock, server_hostname=server_name) as tls:
            return tls.getpeercert(binary_form=True)


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


def sync_challenges(webroot, wanted, state, check_mode):
    """Make the challenge files of ``wanted`` [(token, content)] present or absent under ``webroot``.

    Tokens must have been checked with token_error() first. Returns (changed_paths, diff) where the diff
    shows tokens and key authorizations (public values, served to anyone over HTTP).
    """
    changed_paths = []
    diff = {"before": "", "after": ""}
    for token, content in wanted:
        path = challenge_path(webroot, token)
        current = read_bytes(path)
        if state == "present":
            data = content.encode("utf-8")
            if current == data:
                continue
            changed_paths.append(path)
            diff["before"] += "" if current is None else "%s: %s\n" % (token, current.decode("utf-8", "replace"))
            diff["after"] += "%s: %s\n" % (token, content)
            if not check_mode:
                ensure_dir(os.path.join(webroot, CHALLENGE_SUBDIR), 0o755)
                atomic_write(path, data, 0o644)
        elif current is not None or os.path.lexists(path):
            changed_paths.append(path)
            diff["before"] += "%s: present\n" % token
            if not check_mode:
                os.unlink(path)
    return changed_paths, diff


class LockTimeout(Exception):
    """Another run held the certificate's lock for longer than we were willing to wait."""


@contextlib.contextmanager
def certificate_lock(certificate_dir, timeout):
    """Hold the per-certificate lock of ``certificate_dir`` (flock on .certfleet.lock) for the block.

    Two jobs on one host (a cron run and a manual one, two job templates) must not stage a key while the
    other deploys: whoever comes second waits up to ``timeout`` seconds, then fails naming the holder.
    The lock dies with its process, so a killed run never leaves it held.
    """
    ensure_dir(certificate_dir, 0o755)
    path = os.path.join(certificate_dir, LOCK_FILE)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as error:
                if error.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
                    raise LockTimeout("%s is locked by another certfleet run (pid %s on this host) for more than "
                                      "%ss; let it finish, then run again" % (path, holder, timeout))
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the flock


def first_pem_certificate(data):
    """The first PEM certificate (the leaf) of a fullchain file's bytes, as text; None when there is none."""
    if not data:
        return None
    text = data.decode("ascii", "replace")
    end = text.find("-----END CERTIFICATE-----")
    start = text.find("-----BEGIN CERTIFICATE-----")
    if start < 0 or end < 0:
        return None
    return text[start:end + len("-----END CERTIFICATE-----")] + "\n"


def exit_batch(module, result, diffs, failures):
    """The end of a host module that acts on a batch of certificates: one diff for all of them ((before, after)
    pairs), and one failure that names each failed item, with every item's result beside it."""
    if diffs and module._diff:
        result["diff"] = {"before": "".join(before for before, dummy in diffs),
                          "after": "".join(after for dummy, after in diffs)}
    if failures:
        module.fail_json(msg="; ".join(failures), **result)
    module.exit_json(**result)
