# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Operator-owned keys on the control node: an active and a backup key per certificate, their pins, rotation.

Pinning works only when the operator, not the ACME client, owns the keys and knows the next one in advance
(RFC 7469 §4.3): the active key signs the CSR and goes to the server; the backup key stays here and only its
pin is published. A planned rotation promotes the backup, once its pin has been published long enough for
every client's cached pin set (HPKP ``max-age``, the TLSA record's TTL) to contain it.

Layout (``cryptography``, ``fcntl`` and the standard library; no Ansible import)::

    <store>/                         0700
      <safe name>-<hash>/            0700, one per certificate name (the real name is in state.json)
        .lock                        0600, flock: one read-modify-write at a time (job slices, forks)
        state.json                   0600, roles -> keys, pins, when each pin was first published, history
        <sha256 hex of the SPKI>.key 0600, one file per key (PKCS#8 PEM), never rewritten
        <sha256 hex of the SPKI>.csr 0600, an operator's CSR (import_csr), when there is one

Key files are named by their SPKI digest (the TLSA 3 1 1 value) rather than ``active.key``/``backup.key``:
a key file is written once and never changes, so a rotation is one atomic replace of state.json (the commit
point). A run killed half-way leaves either the old or the new state, never an active.key that belongs to the
backup entry. Files nothing refers to any more are removed after the commit.

Every write is atomic (temp file in the same directory, fsync, rename, fsync of the directory). Reads hold a
shared lock, writes an exclusive one. Errors name the certificate, the file and the fix, never key content.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import datetime
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import time

try:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover
    HAS_CRYPTOGRAPHY = False

from .errors import CertfleetError, InputError
from .host_files import atomic_write as _host_atomic_write
from ._tls import keys as tls_keys
from ._tls import pins as tls_pins

UTC = datetime.timezone.utc

# Outside any checkout (an inventory directory is often a git repository: keys must not end up in it), and per
# control-node user. In AWX, give a path on a persistent volume or use the content mode (KeyStore.from_content).
DEFAULT_STORE_PATH = "~/.local/share/certfleet/keys"
DEFAULT_LOCK_TIMEOUT = 60.0
DEFAULT_TLSA_TTL = 3600
FORMAT = 1
RETIRED_KEEP = 2  # retired keys kept (to revoke by key after a compromise); older ones are deleted

ROTATE_EACH_ISSUE = "rotate_each_issue"
REUSE = "reuse"
PINNED = "pinned"
POLICIES = (ROTATE_EACH_ISSUE, REUSE, PINNED)
STORE_POLICIES = (REUSE, PINNED)
ROLES = ("active", "backup")

# rotation_check codes (compare codes, never words of a reason)
SAFE = "safe"
NO_WAIT = "no_wait"                      # max_age and tlsa_ttl are 0: nothing to wait for
NO_PINS = "no_pins"                      # policy reuse: no backup was published, the new key is made now
WAIT = "wait"                            # the backup's pin was published too recently
BACKUP_UNPUBLISHED = "backup_unpublished"
BACKUP_WITHOUT_KEY = "backup_without_key"  # the backup is known by its CSR only (its key stays with the operator)
NO_KEYS = "no_keys"

KeySet = collections.namedtuple(
    "KeySet", "name policy key_type active_pem active_pin active_csr_pem backup_pin backup_has_key published "
              "changes warnings path")
KeySet.__doc__ = """The keys of one certificate after ensure() or describe().

``active_pem``: the active private key (PKCS#8 PEM, str; None in a dry run that would create it, or when the
store holds only the operator's CSR); the key to order with and deploy. ``active_pin``/``backup_pin``: pin-sha256
values (backup None under policy reuse). ``active_csr_pem``: the operator's own CSR for the active key (order
with it as is), else None. ``backup_has_key``: the store holds the backup's private key (False when only its CSR
was imported). ``published``: {pin: ISO time it was first published} for the active and backup pins.
``changes``: codes of what this call did (created_active, created_backup, policy_changed, ...), empty when
nothing changed. ``warnings``: sentences for the operator. ``path``: the certificate's directory in the store
(None in a dry run on an empty store)."""

RotationCheck = collections.namedtuple("RotationCheck", "safe safe_at code reason")
RotationCheck.__doc__ = """Whether a planned rotation is safe now (``safe``), from when (``safe_at``, an aware
datetime, None when no date can be given), why (``code``: SAFE, NO_WAIT, NO_PINS, WAIT, BACKUP_UNPUBLISHED,
BACKUP_WITHOUT_KEY, NO_KEYS) and in words (``reason``)."""

Rotation = collections.namedtuple(
    "Rotation", "name old_active_pin new_active_pin new_backup_pin old_active_pem retired_key_path emergency "
                "reason wait_skipped check keyset")
Rotation.__doc__ = """What rotate() did. ``old_active_pem``: the retired key (PEM str) for the caller in this
process, to revoke its certificates by key; never put it in a module result. ``retired_key_path``: the same key's
file in the store (kept for RETIRED_KEEP rotations). ``wait_skipped``: why an emergency rotation skipped the
pin-safety wait and what that costs, None when the wait was over anyway. ``check``: the RotationCheck at the
time of the rotation. ``keyset``: the KeySet after the rotation."""


class KeyStoreError(CertfleetError):
    """The store cannot be used as it is (lock timeout, unreadable or inconsistent files)."""


class RotationRefused(CertfleetError):
    """A planned rotation before it is safe; ``details`` carries safe_at (ISO or None) and code."""


# --- time ------------------------------------------------------------------------------------------------------

def utcnow():
    return datetime.datetime.now(UTC).replace(microsecond=0)


def format_time(moment):
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value, what="time"):
    """An ISO 8601 time with a zone (``2026-12-01T10:00:00Z``, ``...+01:00``) or a date (midnight UTC)."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise InputError("%s %s has no time zone; give it in UTC (...Z)" % (what, value))
        return value
    text = str(value).strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        text += "T00:00:00+00:00"
    text = re.sub(r"[zZ]$", "+00:00", text)
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise InputError("%s %r is not an ISO 8601 time (2026-12-01T10:00:00Z)" % (what, value))
    if moment.tzinfo is None:
        raise InputError("%s %r has no time zone; end it with Z (UTC) or an offset" % (what, value))
    return moment


def _duration(seconds):
    seconds = max(int(seconds), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return "%dd %dh" % (days, hours)
    if hours:
        return "%dh %dm" % (hours, minutes)
    return "%dm %ds" % (minutes, rest % 60)


# --- keys ------------------------------------------------------------------------------------------------------

def key_type_of(public_key, what="key"):
    """The KEY_TYPES name of a public key, or an InputError naming ``what`` and the supported types."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        name = {"secp256r1": "ec256", "secp384r1": "ec384"}.get(public_key.curve.name)
    elif isinstance(public_key, rsa.RSAPublicKey):
        name = "rsa%d" % public_key.key_size
    else:
        name = None
    if name not in tls_keys.KEY_TYPES:
        raise InputError("%s is a %s; the store takes %s (what ACME CAs issue for)"
                         % (what, tls_pins.describe_public_key(public_key), ", ".join(tls_keys.KEY_TYPES)))
    return name


def key_id(pin):
    """File name stem of a key: its SPKI SHA-256 in hex (the TLSA 3 1 1 value), from its pin-sha256."""
    return base64.b64decode(pin).hex()


def safe_dirname(name):
    """A file system name for a certificate name: readable, and unique through the hash of the real name."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:64] or "certificate"
    return "%s-%s" % (readable, hashlib.sha256(name.encode("utf-8")).hexdigest()[:16])


def check_name(name):
    if not isinstance(name, str) or not name.strip() or "\n" in name or "\x00" in name:
        raise InputError("certificate name %r is empty or has a newline: give the certificate's name (by default "
                         "its domains joined by commas)" % (name,))
    return name


def check_policy(policy, store=True):
    allowed = STORE_POLICIES if store else POLICIES
    if policy not in allowed:
        if policy == ROTATE_EACH_ISSUE:
            raise InputError("key_policy rotate_each_issue makes a new key at every issue and keeps none in the "
                             "store; use reuse or pinned to keep keys")
        raise InputError("key_policy %r is not one of %s" % (policy, ", ".join(allowed)))
    return policy


# --- files -----------------------------------------------------------------------------------------------------

def atomic_write(path, data, mode=0o600):
    """host_files.atomic_write, with the directory fsynced after the rename: the store holds the only copy of a key."""
    _host_atomic_write(path, data, mode, sync_dir=True)


def _ensure_private_dir(path, warnings):
    """Create ``path`` (0700) or tighten it; a directory open to others is tightened with a warning."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode != 0o700:
            os.chmod(path, 0o700)
            if mode & 0o077:
                warnings.append("key store directory %s was mode %04o (open to other users); set to 0700"
                                % (path, mode))
    except OSError as error:
        raise KeyStoreError("key store directory %s cannot be created or set to 0700: %s (check the path and its "
                            "owner)" % (path, error.strerror))


def _check_file_mode(path, warnings):
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode != 0o600:
        os.chmod(path, 0o600)
        if mode & 0o077:
            warnings.append("%s was mode %04o (readable by other users); set to 0600. If others could read a key "
                            "in it, treat that key as compromised (emergency rotation)" % (path, mode))


# --- one certificate's record ----------------------------------------------------------------------------------

def _empty_state(name, policy):
    return {"format": FORMAT, "name": name, "policy": policy, "active": None, "backup": None, "published": {},
            "retired": [], "history": []}


class _Record:
    """One certificate's state.json and key files, changed in memory and written by the store at the end."""

    def __init__(self, name, directory, state, exists):
        self.name = name
        self.directory = directory
        self.state = state
        self.exists = exists
        self.new_files = {}      # file name -> bytes, written before state.json
        self.changes = []
        self.warnings = []

    # reading
    def entry(self, role):
        return self.state.get(role)

    def read(self, filename):
        if filename in self.new_files:
            return self.new_files[filename]
        path = os.path.join(self.directory, filename)
        try:
            _check_file_mode(path, self.warnings)
            with open(path, "rb") as handle:
                return handle.read()
        except OSError as error:
            raise KeyStoreError("key store for %r: %s is listed in state.json but cannot be read: %s (restore it "
                                "from a backup of the store, or import the key again)"
                                % (self.name, path, error.strerror))

    def private_key_pem(self, role):
        entry = self.entry(role)
        if not entry or not entry.get("key"):
            return None
        pem = self.read(entry["key"])
        key = tls_keys.load_private_key(pem, "key store %s/%s" % (self.directory, entry["key"]))
        if tls_pins.spki_pin(key) != entry["pin"]:
            raise KeyStoreError("key store for %r: %s does not hold the %s key listed in state.json (pin %s); the "
                                "store was edited by hand: restore it from a backup"
                                % (self.name, os.path.join(self.directory, entry["key"]), role, entry["pin"]))
        return pem.decode("ascii")

    def csr_pem(self, role):
        entry = self.entry(role)
        if not entry or not entry.get("csr"):
            return None
        return self.read(entry["csr"]).decode("ascii")

    # changing
    def change(self, code):
        self.changes.append(code)

    def set_entry(self, role, pin, key_type, source, now, key_pem=None, csr_pem=None):
        entry = {"pin": pin, "key_type": key_type, "created": format_time(now), "source": source,
                 "key": None, "csr": None}
        if key_pem is not None:
            entry["key"] = key_id(pin) + ".key"
            self.new_files[entry["key"]] = key_pem if isinstance(key_pem, bytes) else key_pem.encode("ascii")
        if csr_pem is not None:
            entry["csr"] = key_id(pin) + ".csr"
            self.new_files[entry["csr"]] = csr_pem if isinstance(csr_pem, bytes) else csr_pem.encode("ascii")
        self.state[role] = entry
        return entry

    def add_history(self, now, event, **fields):
        item = {"at": format_time(now), "event": event}
        item.update({key: value for key, value in fields.items() if value is not None})
        self.state["history"].append(item)

    def referenced_files(self):
        files = set()
        for entry in [self.state.get("active"), self.state.get("backup")] + list(self.state.get("retired", [])):
            if entry:
                files.update(name for name in (entry.get("key"), entry.get("csr")) if name)
        return files


def _certificate(data):
    data = data.encode("ascii") if isinstance(data, str) else bytes(data)
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def _generate(key_type):
    key = tls_keys.generate_private_key(key_type)
    return tls_pins.spki_pin(key), tls_keys.private_key_to_pem(key).decode("ascii")


class KeyStore:
    """The control node's key store: ``KeyStore(path)``, or ``KeyStore.from_content(...)`` for AWX.

    Every public method takes the certificate ``name``, locks that certificate (exclusively when it writes),
    and raises InputError (a wrong input), RotationRefused or KeyStoreError, each naming the certificate.
    ``now`` (an aware datetime) defaults to the current time; tests pass it. ``dry_run=True`` computes the
    result without writing anything (check mode): keys that would be made are not returned.
    """

    def __init__(self, path=DEFAULT_STORE_PATH, lock_timeout=DEFAULT_LOCK_TIMEOUT):
        if not path:
            raise InputError("key store path is empty: give a directory on the control node (or use the content "
                             "mode)")
        self.path = os.path.abspath(os.path.expanduser(path))
        self.lock_timeout = lock_timeout
        self.warnings = []
        self._content = None

    # -- content mode (AWX without a persistent volume) ----------------------------------------------------------

    @classmethod
    def from_content(cls, name, active_pem=None, backup_pem=None, backup_published=None, policy=PINNED,
                     temp_root=None):
        """A store that lives for this call only, filled from no_log variables (a vault, an AWX credential).

        ``active_pem``/``backup_pem``: the keys the operator keeps; ``backup_published``: when the backup's pin
        was first published (content mode keeps no state between runs, so the operator records it). Use it as a
        context manager; ``content_updates(name)`` then says which keys changed and must be stored again.
        The temporary directory (0700, under ``temp_root``) is removed on exit.
        """
        check_name(name)
        root = tempfile.mkdtemp(prefix="certfleet-keys-", dir=temp_root)
        store = cls(root)
        store._content = {"root": root, "given": {"active": None, "backup": None}}
        try:
            for role, pem in (("active", active_pem), ("backup", backup_pem)):
                if pem:
                    store.import_key(name, pem, role=role, policy=policy)
                    store._content["given"][role] = tls_pins.spki_pin(
                        tls_keys.load_private_key(pem, "%s key content" % role))
            if backup_published and backup_pem:
                store.mark_published(name, [store._content["given"]["backup"]], at=parse_time(
                    backup_published, "backup_published"))
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return store

    def close(self):
        if self._content:
            shutil.rmtree(self._content["root"], ignore_errors=True)
            self._content = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def content_updates(self, name):
        """Content mode: what the operator must store again, one {role, pin, from_role, key_pem} per changed role.

        ``from_role`` names the given key that now belongs in ``role`` (a rotation moves the backup to active:
        the operator copies a variable, no key needs to leave this process; ``key_pem`` is then None). For a key
        made by this call, ``from_role`` is None and ``key_pem`` holds it. [] when nothing changed.
        """
        if not self._content:
            raise InputError("content_updates() is for a store made by from_content()")
        given = {pin: role for role, pin in self._content["given"].items() if pin}
        updates = []
        with self._locked(name, write=False) as record:
            for role in ROLES:
                entry = record.entry(role)
                if not entry or entry["pin"] == self._content["given"][role]:
                    continue
                from_role = given.get(entry["pin"])
                updates.append({"role": role, "pin": entry["pin"], "from_role": from_role,
                                "key_pem": None if from_role else record.private_key_pem(role)})
        return updates

    # -- locking and persistence -----------------------------------------------------------------------------

    def certificate_path(self, name):
        return os.path.join(self.path, safe_dirname(check_name(name)))

    @contextlib.contextmanager
    def _locked(self, name, write, dry_run=False):
        """Yield the certificate's _Record under its flock; write it back on success when asked to."""
        directory = self.certificate_path(name)
        writing = write and not dry_run
        if not os.path.isdir(directory) and not writing:
            # Nothing stored, and nothing to write: no directory, no lock file.
            yield _Record(name, directory, None, exists=False)
            return
        if writing:
            _ensure_private_dir(self.path, self.warnings)
            _ensure_private_dir(directory, self.warnings)
        lock_path = os.path.join(directory, ".lock")
        try:
            lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise KeyStoreError("key store for %r: lock file %s cannot be opened: %s"
                                % (name, lock_path, error.strerror))
        try:
            self._flock(lock_fd, fcntl.LOCK_EX if writing else fcntl.LOCK_SH, name, lock_path)
            record = self._load(name, directory)
            yield record
            if writing and (record.new_files or record.changes or not record.exists) and record.state is not None:
                self._save(record)
        finally:
            os.close(lock_fd)  # releases the flock

    def _flock(self, fd, operation, name, lock_path):
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                fcntl.flock(fd, operation | fcntl.LOCK_NB)
                return
            except OSError as error:
                if error.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
            if time.monotonic() >= deadline:
                raise KeyStoreError("key store for %r is locked by another run (%s) for more than %ss; wait for it "
                                    "to finish, or raise the lock timeout" % (name, lock_path, self.lock_timeout))
            time.sleep(0.05)

    def _load(self, name, directory):
        state_path = os.path.join(directory, "state.json")
        if not os.path.exists(state_path):
            return _Record(name, directory, None, exists=False)
        warnings = []
        _check_file_mode(state_path, warnings)
        try:
            with open(state_path, "rb") as handle:
                state = json.loads(handle.read().decode("utf-8"))
        except (OSError, ValueError) as error:
            raise KeyStoreError("key store for %r: %s cannot be read (%s); restore it from a backup of the store"
                                % (name, state_path, getattr(error, "strerror", None) or type(error).__name__))
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise KeyStoreError("key store for %r: %s has format %r, this version reads format %d"
                                % (name, state_path, state.get("format") if isinstance(state, dict) else None,
                                   FORMAT))
        if state.get("name") != name:
            raise KeyStoreError("key store directory %s belongs to certificate %r, not %r (a hash collision or a "
                                "moved directory)" % (directory, state.get("name"), name))
        record = _Record(name, directory, state, exists=True)
        record.warnings.extend(warnings)
        return record

    def _save(self, record):
        for filename, data in sorted(record.new_files.items()):
            atomic_write(os.path.join(record.directory, filename), data)
        atomic_write(os.path.join(record.directory, "state.json"),
                     (json.dumps(record.state, indent=2, sort_keys=True) + "\n").encode("utf-8"))
        # After the commit: files no entry refers to any more (older retired keys, replaced keys).
        keep = record.referenced_files()
        for filename in os.listdir(record.directory):
            if (filename.endswith((".key", ".csr")) or filename.startswith(".tmp-")) and filename not in keep:
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(record.directory, filename))
        record.new_files = {}
        record.exists = True

    def _keyset(self, record, dry_run=False):
        state = record.state
        active, backup = state["active"], state["backup"]
        published = {pin: when for pin, when in state["published"].items()
                     if pin in [entry["pin"] for entry in (active, backup) if entry]}
        active_pem = None
        if active and active.get("key") and not (dry_run and active["key"] in record.new_files):
            active_pem = record.private_key_pem("active")
        return KeySet(
            name=record.name, policy=state["policy"], key_type=active["key_type"] if active else None,
            active_pem=active_pem, active_pin=active["pin"] if active else None,
            active_csr_pem=record.csr_pem("active") if active else None,
            backup_pin=backup["pin"] if backup else None, backup_has_key=bool(backup and backup.get("key")),
            published=published, changes=list(record.changes), warnings=self.warnings + record.warnings,
            path=record.directory if (record.exists or not dry_run) else None)

    # -- the API ---------------------------------------------------------------------------------------------

    def describe(self, name):
        """The certificate's KeySet (with the active key), or None when the store holds nothing for it."""
        with self._locked(name, write=False) as record:
            if record.state is None:
                return None
            return self._keyset(record)

    def ensure(self, name, key_type="ec256", policy=PINNED, now=None, dry_run=False, explicit_key_type=True):
        """The keys to order with: the active key, made when missing; under ``pinned`` a backup too.

        Idempotent. A policy change is recorded (reuse -> pinned makes the backup). The key type of stored keys
        never changes here: a different ``key_type`` gives a warning (pinned keys change type at rotation).
        An active key known only by the operator's CSR is refused: the role deploys the key, so import it.
        ``explicit_key_type=False``: ``key_type`` is only the default for new keys (no warning on a difference).
        """
        check_policy(policy)
        if key_type not in tls_keys.KEY_TYPES:
            raise InputError("key_type %r is not one of %s" % (key_type, ", ".join(tls_keys.KEY_TYPES)))
        now = now or utcnow()
        with self._locked(name, write=True, dry_run=dry_run) as record:
            if record.state is None:
                record.state = _empty_state(name, policy)
                record.change("created_store")
            state = record.state
            if state["policy"] != policy:
                record.change("policy_changed")
                record.add_history(now, "policy_changed", old_policy=state["policy"], new_policy=policy)
                if policy == REUSE and state["backup"]:
                    record.warnings.append("certificate %r: policy reuse ignores the backup key (pin %s), which "
                                           "stays in the store for a return to pinned" % (name, state["backup"]["pin"]))
                state["policy"] = policy
            if state["active"] is None:
                pin, pem = _generate(key_type)
                record.set_entry("active", pin, key_type, "generated", now, key_pem=pem)
                record.change("created_active")
                record.add_history(now, "created", role="active", pin=pin)
            elif not state["active"].get("key"):
                raise InputError("certificate %r: the store holds the active key's CSR only (pin %s); the role "
                                 "deploys the private key to the host, so import it (key_store active_key_path)"
                                 % (name, state["active"]["pin"]))
            if policy == PINNED and state["backup"] is None:
                backup_type = state["active"]["key_type"] if state["active"]["key_type"] else key_type
                pin, pem = _generate(backup_type)
                record.set_entry("backup", pin, backup_type, "generated", now, key_pem=pem)
                record.change("created_backup")
                record.add_history(now, "created", role="backup", pin=pin)
            if explicit_key_type and state["active"]["key_type"] != key_type:
                record.warnings.append(
                    "certificate %r: the store's active key is %s, key_type asks %s; stored keys keep their type "
                    "(their pins are published). Rotate with key_type=%s: the new backup gets that type, and "
                    "becomes active at the rotation after." % (name, state["active"]["key_type"], key_type,
                                                               key_type))
            return self._keyset(record, dry_run)

    def _import(self, name, role, pin, key_type, policy, replace, now, dry_run, key_pem=None, csr_pem=None):
        if role not in ROLES:
            raise InputError("role %r is not active or backup" % (role,))
        check_policy(policy)
        now = now or utcnow()
        kind = "CSR" if key_pem is None else "key"
        with self._locked(name, write=True, dry_run=dry_run) as record:
            if record.state is None:
                record.state = _empty_state(name, policy)
                record.change("created_store")
            other = "backup" if role == "active" else "active"
            if record.entry(other) and record.entry(other)["pin"] == pin:
                if role == "backup":
                    raise InputError("certificate %r: the %s given as backup is the active key (pin %s); a backup "
                                     "must be a different key (RFC 7469 §4.3)" % (name, kind, pin))
                raise InputError("certificate %r: the %s given as active is the store's backup key (pin %s); "
                                 "to make the backup active, rotate" % (name, kind, pin))
            current = record.entry(role)
            if current and current["pin"] == pin:
                if key_pem is not None and not current.get("key"):
                    current["key"] = key_id(pin) + ".key"
                    record.new_files[current["key"]] = key_pem.encode("ascii")
                    record.change("imported_%s_key" % role)
                    record.add_history(now, "imported", role=role, pin=pin, kind="key")
                if csr_pem is not None and record.csr_pem(role) != csr_pem:
                    current["csr"] = key_id(pin) + ".csr"
                    record.new_files[current["csr"]] = csr_pem.encode("ascii")
                    record.change("imported_%s_csr" % role)
                    record.add_history(now, "imported", role=role, pin=pin, kind="csr")
                return self._keyset(record, dry_run)
            if current and not replace:
                raise InputError("certificate %r: the store already holds a different %s key (pin %s, the given %s "
                                 "has pin %s); set replace to swap it (its published pin then no longer matches)"
                                 % (name, role, current["pin"], kind, pin))
            if current:
                record.state["retired"].append(dict(current, retired=format_time(now), reason="replaced by import"))
                record.state["retired"] = record.state["retired"][-RETIRED_KEEP:]
                record.change("replaced_%s" % role)
            record.set_entry(role, pin, key_type, "imported %s" % kind, now, key_pem=key_pem, csr_pem=csr_pem)
            record.change("imported_%s_%s" % (role, "key" if key_pem is not None else "csr"))
            record.add_history(now, "imported", role=role, pin=pin, kind=kind.lower(), replaced=current["pin"]
                               if current else None)
            return self._keyset(record, dry_run)

    def import_key(self, name, pem, role="active", policy=PINNED, replace=False, now=None, passphrase=None,
                   dry_run=False):
        """Bring the operator's own private key (PEM; encrypted with ``passphrase``) as the active or backup key.

        Stored as unencrypted PKCS#8 (the store's files are 0600 in a 0700 directory). Idempotent for the same
        key. Refused: a key that is the other role's key, a different key where one is held (unless
        ``replace``: the old one is retired), key types ACME CAs do not issue for.
        """
        what = "%s key to import for %r" % (role, name)
        key = tls_keys.load_private_key(pem, what, passphrase=passphrase)
        key_type = key_type_of(key.public_key(), what)
        return self._import(name, role, tls_pins.spki_pin(key), key_type, policy, replace, now, dry_run,
                            key_pem=tls_keys.private_key_to_pem(key).decode("ascii"))

    def import_csr(self, name, csr_pem, role="backup", policy=PINNED, replace=False, now=None, dry_run=False):
        """Bring the operator's CSR (the seed's ``--csr``): its public key is the ``role`` key's pin.

        For the backup this is the strongest form: the backup's private key stays with the operator (offline),
        only its pin is published; rotation then asks for the key (import_key role=backup). For the active key
        the CSR is ordered as given; the store must hold (or be given) its private key, since the role deploys it.
        """
        what = "%s CSR to import for %r" % (role, name)
        if isinstance(csr_pem, bytes):
            csr_pem = csr_pem.decode("ascii", "replace")
        try:
            csr = x509.load_pem_x509_csr(csr_pem.encode("ascii"))
        except ValueError:
            raise InputError("%s is not a PEM certificate signing request" % what)
        if not csr.is_signature_valid:
            raise InputError("%s has an invalid signature: it was not signed by the key it carries" % what)
        key_type = key_type_of(csr.public_key(), what)
        return self._import(name, role, tls_pins.spki_pin(csr.public_key()), key_type, policy, replace, now,
                            dry_run, csr_pem=csr_pem)

    def mark_published(self, name, pins=None, now=None, at=None, dry_run=False):
        """Record when ``pins`` (default: the active and backup pins) were first published; returns the changes.

        The first publication counts: a pin already recorded keeps its time, unless ``at`` is earlier (the operator
        knows the records were live before). ``at`` in the future is refused. Returns [{pin, role, published}] for
        the pins whose time was set now.
        """
        now = now or utcnow()
        at = at or now
        if at > now + datetime.timedelta(minutes=5):
            raise InputError("published_at %s is in the future; record a publication once it has happened"
                             % format_time(at))
        with self._locked(name, write=True, dry_run=dry_run) as record:
            if record.state is None:
                raise InputError("certificate %r has no keys in the store %s: nothing to mark published"
                                 % (name, self.path))
            roles = {record.entry(role)["pin"]: role for role in ROLES if record.entry(role)}
            wanted = list(pins) if pins else list(roles)
            unknown = [pin for pin in wanted if pin not in roles]
            if unknown:
                raise InputError("certificate %r: pins %s are neither its active nor its backup pin (%s)"
                                 % (name, unknown, ", ".join("%s %s" % (role, pin) for pin, role in roles.items())))
            marked = []
            for pin in wanted:
                known = record.state["published"].get(pin)
                if known is None or parse_time(known) > at:
                    record.state["published"][pin] = format_time(at)
                    marked.append({"pin": pin, "role": roles[pin], "published": format_time(at)})
            if marked:
                record.change("published")
                record.add_history(now, "published", pins=[item["pin"] for item in marked],
                                   published_at=format_time(at))
            return marked

    def rotation_check(self, name, max_age=tls_pins.HPKP_DEFAULT_MAX_AGE, tlsa_ttl=DEFAULT_TLSA_TTL, now=None):
        """Whether a planned rotation is safe now: RotationCheck(safe, safe_at, code, reason).

        Safe once the backup's pin has been published for max(max_age, tlsa_ttl) seconds: until then a client
        may hold a pin set (an HPKP header, a cached TLSA RRset) that lacks the backup and would refuse it.
        """
        for option, value in (("max_age", max_age), ("tlsa_ttl", tlsa_ttl)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError("%s %r is not a number of seconds >= 0" % (option, value))
        now = now or utcnow()
        with self._locked(name, write=False) as record:
            return self._check(record, max_age, tlsa_ttl, now)

    def _check(self, record, max_age, tlsa_ttl, now):
        name = record.name
        if record.state is None or record.state["active"] is None:
            return RotationCheck(False, None, NO_KEYS, "certificate %r has no active key in the store %s: nothing "
                                 "to rotate (issue it with a reuse or pinned key policy first)" % (name, self.path))
        backup = record.state["backup"]
        if record.state["policy"] == REUSE or backup is None:
            return RotationCheck(True, now, NO_PINS, "policy %s keeps no backup key, so no pin of the next key was "
                                 "published: the new key is made now, and pins or TLSA 3 1 1 records of the old key "
                                 "stop matching once it is served" % record.state["policy"])
        if not backup.get("key"):
            return RotationCheck(False, None, BACKUP_WITHOUT_KEY, "the backup of %r is held as a CSR only (pin %s): "
                                 "import its private key (key_store backup_key_path) before the rotation"
                                 % (name, backup["pin"]))
        wait = max(max_age, tlsa_ttl)
        if wait == 0:
            return RotationCheck(True, now, NO_WAIT, "max_age and tlsa_ttl are 0: no client caches the pins, "
                                 "nothing to wait for")
        published = record.state["published"].get(backup["pin"])
        if published is None:
            return RotationCheck(False, None, BACKUP_UNPUBLISHED, "the backup pin %s of %r was never published: "
                                 "publish it (HPKP header, TLSA 3 1 1), record that with key_store state=published, "
                                 "and rotate %s later (max(max_age=%d, tlsa_ttl=%d))"
                                 % (backup["pin"], name, _duration(wait), max_age, tlsa_ttl))
        safe_at = parse_time(published) + datetime.timedelta(seconds=wait)
        if now < safe_at:
            remaining = _duration((safe_at - now).total_seconds())
            return RotationCheck(False, safe_at, WAIT, "the backup pin %s of %r was first published at %s; clients "
                                 "may hold a pin set without it for max(max_age=%d, tlsa_ttl=%d) seconds: rotation is "
                                 "safe from %s (in %s)"
                                 % (backup["pin"], name, published, max_age, tlsa_ttl, format_time(safe_at), remaining))
        return RotationCheck(True, safe_at, SAFE, "the backup pin %s of %r was first published at %s, more than "
                             "max(max_age=%d, tlsa_ttl=%d) seconds ago: safe since %s"
                             % (backup["pin"], name, published, max_age, tlsa_ttl, format_time(safe_at)))

    def rotate(self, name, now=None, emergency=False, reason=None, max_age=tls_pins.HPKP_DEFAULT_MAX_AGE,
               tlsa_ttl=DEFAULT_TLSA_TTL, key_type=None, dry_run=False):
        """Promote the backup to active and make a new backup (policy reuse: make a new active key).

        Planned (``emergency=False``): refused with RotationRefused, which says from when it is safe, until
        rotation_check() is safe. Emergency (the active key is compromised): needs a ``reason``, skips the wait
        and says why in ``wait_skipped``. The old active key is retired (kept for RETIRED_KEEP rotations, to
        revoke its certificates by key) and returned as ``old_active_pem`` for this process only.
        ``key_type``: type of the new backup (default: the type of the current keys).
        """
        if emergency and not (isinstance(reason, str) and reason.strip()):
            raise InputError("emergency rotation of %r needs a reason (what happened to the key): it goes into the "
                             "store's history and the run's output" % name)
        if key_type is not None and key_type not in tls_keys.KEY_TYPES:
            raise InputError("key_type %r is not one of %s" % (key_type, ", ".join(tls_keys.KEY_TYPES)))
        now = now or utcnow()
        with self._locked(name, write=True, dry_run=dry_run) as record:
            check = self._check(record, max_age, tlsa_ttl, now)
            if check.code in (NO_KEYS, BACKUP_WITHOUT_KEY):
                raise InputError(check.reason)
            if not check.safe and not emergency:
                raise RotationRefused("planned rotation of %r refused: %s. An emergency rotation (the key leaked) "
                                      "does not wait" % (name, check.reason),
                                      safe_at=format_time(check.safe_at) if check.safe_at else None, code=check.code)
            state = record.state
            old = state["active"]
            old_pem = record.private_key_pem("active")
            new_type = key_type or (state["backup"] or old)["key_type"]
            if state["policy"] == PINNED and state["backup"]:
                state["active"] = state["backup"]
                pin, pem = _generate(new_type)
                record.set_entry("backup", pin, new_type, "generated", now, key_pem=pem)
                new_active, new_backup = state["active"]["pin"], pin
            else:
                pin, pem = _generate(new_type)
                record.set_entry("active", pin, new_type, "generated", now, key_pem=pem)
                new_active, new_backup = pin, None
            state["retired"].append(dict(old, retired=format_time(now),
                                         reason=("emergency: %s" % reason.strip()) if emergency else
                                         (reason or "planned rotation")))
            state["retired"] = state["retired"][-RETIRED_KEEP:]
            wait_skipped = None
            if emergency and not check.safe:
                wait_skipped = ("emergency rotation (reason: %s): the pin-safety wait was skipped because the active "
                                "key is compromised and must stop being served now. %s%s; until then a client that "
                                "cached an older pin set may refuse the new key %s"
                                % (reason.strip(), check.reason[:1].upper(), check.reason[1:], new_active))
            event = "emergency_rotated" if emergency else "rotated"
            record.change(event)
            record.add_history(now, event, old_active=old["pin"], new_active=new_active, new_backup=new_backup,
                               reason=reason.strip() if reason else None, wait_skipped=bool(wait_skipped) or None)
            keyset = self._keyset(record, dry_run)
            return Rotation(name=name, old_active_pin=old["pin"], new_active_pin=new_active,
                            new_backup_pin=new_backup, old_active_pem=old_pem,
                            retired_key_path=os.path.join(record.directory, old["key"]) if old.get("key") else None,
                            emergency=bool(emergency), reason=reason, wait_skipped=wait_skipped, check=check,
                            keyset=keyset)

    def retired(self, name):
        """The retired keys of ``name``: [{pin, key_type, retired, reason, key_path}], oldest first."""
        with self._locked(name, write=False) as record:
            if record.state is None:
                return []
            return [{"pin": entry["pin"], "key_type": entry["key_type"], "retired": entry.get("retired"),
                     "reason": entry.get("reason"),
                     "key_path": os.path.join(record.directory, entry["key"]) if entry.get("key") else None}
                    for entry in record.state["retired"]]

    def public_keys(self, name):
        """{"active": key, "backup": key}: the public keys (cryptography objects) of the stored keys or CSRs."""
        found = {}
        with self._locked(name, write=False) as record:
            for role in ROLES:
                entry = record.entry(role) if record.state else None
                if not entry:
                    continue
                if entry.get("key"):
                    found[role] = tls_keys.load_private_key(record.read(entry["key"]), "%s key" % role).public_key()
                else:
                    found[role] = x509.load_pem_x509_csr(record.read(entry["csr"])).public_key()
        return found

    def match_certificates(self, name, certificates):
        """Which stored key each certificate carries: [{index, serial, pin, role, retired_key_path}].

        ``certificates``: a list of (what, PEM or DER bytes), ``what`` naming the input for errors. ``role`` is
        active, backup, retired (with the retired key's file, to revoke by key) or none.
        """
        keyset = self.describe(name)
        retired = {entry["pin"]: entry for entry in self.retired(name)}
        matches = []
        for index, (what, data) in enumerate(certificates):
            material = tls_pins.load_key_material(data, what)
            if material.kind != "certificate":
                raise InputError("%s holds a %s, not a certificate" % (what, material.kind))
            pin = tls_pins.spki_pin(material.public_key)
            role = "none"
            if keyset and pin == keyset.active_pin:
                role = "active"
            elif keyset and pin == keyset.backup_pin:
                role = "backup"
            elif pin in retired:
                role = "retired"
            matches.append({"index": index, "serial": "%x" % _certificate(data).serial_number, "pin": pin,
                            "role": role,
                            "retired_key_path": retired[pin]["key_path"] if role == "retired" else None})
        return matches

    def history(self, name):
        with self._locked(name, write=False) as record:
            return list(record.state["history"]) if record.state else []


def order_key(store_path, name, policy, key_type="ec256", now=None, dry_run=False,
              lock_timeout=DEFAULT_LOCK_TIMEOUT):
    """The one call of the decide step: the KeySet to order with, or None under rotate_each_issue.

    ``store_path``: the store directory (``certificate_key_store``). Under ``reuse``/``pinned`` the active key
    (made when missing, with a backup under ``pinned``) is ``.active_pem``; compare ``.active_pin`` with the
    served key's pin to decide whether the host serves the store's key. The backup key is never returned here.
    """
    check_policy(policy, store=False)
    if policy == ROTATE_EACH_ISSUE:
        return None
    return KeyStore(store_path, lock_timeout=lock_timeout).ensure(name, key_type=key_type, policy=policy, now=now,
                                                                  dry_run=dry_run)
