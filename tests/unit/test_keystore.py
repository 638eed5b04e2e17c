"""The key store core (module_utils/keystore.py): real files, real flock, real processes; only the clock is given.

Each test names the rule it proves: modes, atomic commits, the lock under two writers, pin-safety dates,
emergency rotation, the operator's own key or CSR, and the content mode for AWX.
"""

import datetime
import fcntl
import json
import multiprocessing
import os
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from ansible_collections.certfleet.tls.plugins.module_utils import keystore
from ansible_collections.certfleet.tls.plugins.module_utils._tls import keys, pins
from ansible_collections.certfleet.tls.plugins.module_utils.errors import InputError

NAME = "www.example.org"
T0 = datetime.datetime(2026, 12, 1, 10, 0, 0, tzinfo=datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def pin_of_pem(pem):
    return pins.spki_pin(keys.load_private_key(pem))


@pytest.fixture
def store(tmp_path):
    return keystore.KeyStore(str(tmp_path / "keys"))


def files_of(store, name=NAME):
    directory = store.certificate_path(name)
    return sorted(os.listdir(directory))


def test_modes_are_0700_and_0600_and_the_name_is_kept(store):
    keyset = store.ensure(NAME, now=T0)
    directory = store.certificate_path(NAME)
    assert mode(store.path) == 0o700 and mode(directory) == 0o700
    for filename in files_of(store):
        assert mode(os.path.join(directory, filename)) == 0o600, filename
    assert keyset.changes == ["created_store", "created_active", "created_backup"]
    with open(os.path.join(directory, "state.json")) as handle:
        state = json.load(handle)
    assert state["name"] == NAME and state["policy"] == "pinned"
    # key files are named by the SPKI digest (the TLSA 3 1 1 value), one per key
    assert sorted(f for f in files_of(store) if f.endswith(".key")) == sorted(
        keystore.key_id(pin) + ".key" for pin in (keyset.active_pin, keyset.backup_pin))


def test_name_is_made_safe_and_never_collides():
    odd = "../../etc/passwd,www.example.org"
    assert "/" not in keystore.safe_dirname(odd) and not keystore.safe_dirname(odd).startswith(".")
    assert keystore.safe_dirname("a_b") != keystore.safe_dirname("a/b")  # same readable part, different hash
    with pytest.raises(InputError, match="empty or has a newline"):
        keystore.safe_dirname(keystore.check_name("a\nb"))


def test_open_directory_and_key_file_are_tightened_with_a_warning(tmp_path):
    root = tmp_path / "keys"
    root.mkdir(mode=0o755)
    os.chmod(root, 0o755)
    store = keystore.KeyStore(str(root))
    keyset = store.ensure(NAME, now=T0)
    assert mode(root) == 0o700
    assert any("was mode 0755" in warning for warning in keyset.warnings)
    key_file = os.path.join(store.certificate_path(NAME), keystore.key_id(keyset.active_pin) + ".key")
    os.chmod(key_file, 0o644)
    again = keystore.KeyStore(str(root)).ensure(NAME, now=T0)
    assert mode(key_file) == 0o600
    assert any("readable by other users" in w and "emergency rotation" in w for w in again.warnings), again.warnings


def test_ensure_is_idempotent_and_reuse_keeps_no_backup(store):
    first = store.ensure(NAME, now=T0)
    second = store.ensure(NAME, now=T0 + DAY)
    assert second.changes == [] and second.active_pem == first.active_pem and second.backup_pin == first.backup_pin
    assert pin_of_pem(second.active_pem) == second.active_pin
    reuse = keystore.order_key(store.path, "reuse.example.org", "reuse", now=T0)
    assert reuse.backup_pin is None and not reuse.backup_has_key
    assert keystore.order_key(store.path, "fresh.example.org", "rotate_each_issue") is None
    assert not os.path.exists(store.certificate_path("fresh.example.org"))
    # reuse -> pinned: the backup is made and the active key stays
    pinned = store.ensure("reuse.example.org", policy="pinned", now=T0 + DAY)
    assert pinned.active_pin == reuse.active_pin and pinned.backup_pin and "policy_changed" in pinned.changes


def test_key_type_of_stored_keys_never_changes_silently(store):
    store.ensure(NAME, key_type="ec384", now=T0)
    keyset = store.ensure(NAME, key_type="rsa2048", now=T0)
    assert keyset.key_type == "ec384" and keyset.changes == []
    assert any("ec384, key_type asks rsa2048" in warning for warning in keyset.warnings)
    rotation = store.rotate(NAME, emergency=True, reason="test", key_type="rsa2048", now=T0)
    assert rotation.keyset.key_type == "ec384"  # the old backup, made as ec384
    backup = store.public_keys(NAME)["backup"]
    assert isinstance(backup, rsa.RSAPublicKey) and backup.key_size == 2048


def test_dry_run_writes_nothing(store):
    keyset = store.ensure(NAME, dry_run=True)
    assert keyset.active_pem is None and keyset.path is None and "created_active" in keyset.changes
    assert not os.path.exists(store.path)
    store.ensure(NAME, now=T0)
    before = {name: open(os.path.join(store.certificate_path(NAME), name), "rb").read() for name in files_of(store)}
    rotation = store.rotate(NAME, emergency=True, reason="drill", dry_run=True, now=T0)
    assert rotation.new_active_pin
    after = {name: open(os.path.join(store.certificate_path(NAME), name), "rb").read() for name in files_of(store)}
    assert after == before


def test_atomic_write_leaves_the_old_file_and_no_temp_file_on_failure(tmp_path, monkeypatch):
    path = str(tmp_path / "state.json")
    keystore.atomic_write(path, b"old")
    real_fsync = os.fsync

    def failing_fsync(fd):
        if stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(5, "Input/output error")
        return real_fsync(fd)
    monkeypatch.setattr(keystore.os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        keystore.atomic_write(path, b"new")
    assert open(path, "rb").read() == b"old"
    assert os.listdir(str(tmp_path)) == ["state.json"]
    assert mode(path) == 0o600


def test_a_rotation_that_dies_before_its_commit_leaves_the_old_state(store, monkeypatch):
    """state.json is the commit point: a crash before its rename leaves the old, consistent store."""
    keyset = store.ensure(NAME, now=T0)
    real_write = keystore.atomic_write

    def crash_at_commit(path, data, mode=0o600):
        if path.endswith("state.json"):
            raise KeyboardInterrupt("killed before the commit")
        return real_write(path, data, mode)
    monkeypatch.setattr(keystore, "atomic_write", crash_at_commit)
    with pytest.raises(KeyboardInterrupt):
        store.rotate(NAME, emergency=True, reason="crash test", now=T0)
    monkeypatch.setattr(keystore, "atomic_write", real_write)
    after = store.describe(NAME)
    assert (after.active_pin, after.backup_pin, after.active_pem) == (keyset.active_pin, keyset.backup_pin,
                                                                      keyset.active_pem)
    assert len([f for f in files_of(store) if f.endswith(".key")]) == 3  # the new backup is an orphan
    store.mark_published(NAME, now=T0)  # the next commit removes it
    assert len([f for f in files_of(store) if f.endswith(".key")]) == 2


def _rotate_many(path, count, queue):
    store = keystore.KeyStore(path, lock_timeout=60)
    done = []
    for dummy in range(count):
        done.append(store.rotate(NAME, emergency=True, reason="pid %d" % os.getpid()).new_active_pin)
    queue.put(done)


def test_two_processes_rotating_at_once_never_lose_or_mix_an_update(store):
    """Read-modify-write under the flock: 2 x 8 emergency rotations give 16 chained entries, none lost."""
    first = store.ensure(NAME, now=T0)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [context.Process(target=_rotate_many, args=(store.path, 8, queue)) for dummy in range(2)]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=120) for dummy in workers]
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    rotations = [item for item in store.history(NAME) if item["event"] == "emergency_rotated"]
    assert len(rotations) == 16
    # Each rotation starts from the state the previous one committed: its new active is the previous backup.
    assert rotations[0]["old_active"] == first.active_pin and rotations[0]["new_active"] == first.backup_pin
    for previous, current in zip(rotations, rotations[1:]):
        assert current["old_active"] == previous["new_active"]
        assert current["new_active"] == previous["new_backup"]
    assert sorted(results[0] + results[1]) == sorted(item["new_active"] for item in rotations)
    final = store.describe(NAME)
    assert final.active_pin == rotations[-1]["new_active"] and final.backup_pin == rotations[-1]["new_backup"]
    assert len([f for f in files_of(store) if f.endswith(".key")]) == 2 + keystore.RETIRED_KEEP


def _ensure_once(path, queue):
    keyset = keystore.KeyStore(path).ensure(NAME)
    queue.put((keyset.active_pin, keyset.backup_pin))


def test_forks_that_ensure_at_once_get_one_key(store):
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [context.Process(target=_ensure_once, args=(store.path, queue)) for dummy in range(4)]
    for worker in workers:
        worker.start()
    results = {queue.get(timeout=60) for dummy in workers}
    for worker in workers:
        worker.join(timeout=60)
    assert len(results) == 1
    assert len([f for f in files_of(store) if f.endswith(".key")]) == 2


def test_a_held_lock_makes_a_writer_wait_then_fail_by_name(store):
    store.ensure(NAME, now=T0)
    with open(os.path.join(store.certificate_path(NAME), ".lock"), "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        impatient = keystore.KeyStore(store.path, lock_timeout=0.3)
        with pytest.raises(keystore.KeyStoreError, match="locked by another run"):
            impatient.mark_published(NAME, now=T0)
    assert keystore.KeyStore(store.path, lock_timeout=0.3).mark_published(NAME, now=T0)


def test_rotation_safety_dates(store):
    keyset = store.ensure(NAME, now=T0)
    check = store.rotation_check(NAME, max_age=86400, tlsa_ttl=3600, now=T0)
    assert (check.safe, check.code, check.safe_at) == (False, keystore.BACKUP_UNPUBLISHED, None)
    marked = store.mark_published(NAME, now=T0)
    assert {m["pin"] for m in marked} == {keyset.active_pin, keyset.backup_pin}
    check = store.rotation_check(NAME, max_age=86400, tlsa_ttl=3600, now=T0 + datetime.timedelta(hours=1))
    assert (check.safe, check.code, check.safe_at) == (False, keystore.WAIT, T0 + DAY)
    assert "safe from 2026-12-02T10:00:00Z (in 23h 0m)" in check.reason
    # the TTL counts when it is longer than max-age
    check = store.rotation_check(NAME, max_age=600, tlsa_ttl=7200, now=T0 + datetime.timedelta(hours=1))
    assert check.safe_at == T0 + datetime.timedelta(hours=2) and not check.safe
    check = store.rotation_check(NAME, max_age=86400, tlsa_ttl=3600, now=T0 + DAY)
    assert (check.safe, check.code) == (True, keystore.SAFE)
    check = store.rotation_check(NAME, max_age=0, tlsa_ttl=0, now=T0)
    assert (check.safe, check.code) == (True, keystore.NO_WAIT)
    with pytest.raises(InputError, match="max_age -1"):
        store.rotation_check(NAME, max_age=-1)


def test_planned_rotation_is_refused_with_the_date_then_done(store):
    keyset = store.ensure(NAME, now=T0)
    store.mark_published(NAME, now=T0)
    with pytest.raises(keystore.RotationRefused) as refused:
        store.rotate(NAME, max_age=86400, tlsa_ttl=3600, now=T0 + datetime.timedelta(hours=2))
    assert "safe from 2026-12-02T10:00:00Z" in refused.value.msg
    assert refused.value.details == {"safe_at": "2026-12-02T10:00:00Z", "code": keystore.WAIT}
    assert store.describe(NAME).active_pin == keyset.active_pin  # nothing moved
    rotation = store.rotate(NAME, max_age=86400, tlsa_ttl=3600, now=T0 + DAY)
    assert rotation.new_active_pin == keyset.backup_pin and rotation.old_active_pin == keyset.active_pin
    assert rotation.new_backup_pin not in (keyset.active_pin, keyset.backup_pin)
    assert rotation.old_active_pem == keyset.active_pem and rotation.wait_skipped is None
    with open(rotation.retired_key_path) as handle:
        assert handle.read() == keyset.active_pem
    after = store.describe(NAME)
    assert after.active_pin == keyset.backup_pin and after.backup_pin == rotation.new_backup_pin
    # the new active pin keeps its publication time; the new backup was never published: the next rotation waits
    assert after.published == {keyset.backup_pin: "2026-12-01T10:00:00Z"}
    check = store.rotation_check(NAME, max_age=86400, tlsa_ttl=3600, now=T0 + 3 * DAY)
    assert check.code == keystore.BACKUP_UNPUBLISHED


def test_emergency_rotation_needs_a_reason_and_skips_the_wait(store):
    keyset = store.ensure(NAME, now=T0)
    with pytest.raises(InputError, match="needs a reason"):
        store.rotate(NAME, emergency=True, reason=" ", now=T0)
    rotation = store.rotate(NAME, emergency=True, reason="key copied off web1", now=T0)
    assert rotation.emergency and rotation.new_active_pin == keyset.backup_pin
    assert "key copied off web1" in rotation.wait_skipped and "never published" in rotation.wait_skipped
    assert rotation.check.code == keystore.BACKUP_UNPUBLISHED
    history = store.history(NAME)[-1]
    assert history["event"] == "emergency_rotated" and history["reason"] == "key copied off web1"
    assert history["wait_skipped"] is True
    assert store.retired(NAME)[-1]["reason"] == "emergency: key copied off web1"


def test_retired_keys_are_kept_for_revocation_then_deleted(store):
    store.ensure(NAME, now=T0)
    rotations = [store.rotate(NAME, emergency=True, reason="r%d" % i, now=T0) for i in range(3)]
    kept = store.retired(NAME)
    assert [entry["pin"] for entry in kept] == [r.old_active_pin for r in rotations[-keystore.RETIRED_KEEP:]]
    assert not os.path.exists(rotations[0].retired_key_path)
    assert all(os.path.exists(entry["key_path"]) for entry in kept)


def test_mark_published_keeps_the_first_time_and_refuses_nonsense(store):
    keyset = store.ensure(NAME, now=T0)
    store.mark_published(NAME, [keyset.backup_pin], now=T0 + DAY)
    assert store.mark_published(NAME, [keyset.backup_pin], now=T0 + 2 * DAY) == []  # first publication counts
    earlier = store.mark_published(NAME, [keyset.backup_pin], at=T0, now=T0 + 2 * DAY)
    assert earlier == [{"pin": keyset.backup_pin, "role": "backup", "published": "2026-12-01T10:00:00Z"}]
    with pytest.raises(InputError, match="in the future"):
        store.mark_published(NAME, at=T0 + 3 * DAY, now=T0)
    with pytest.raises(InputError, match="neither its active nor its backup pin"):
        store.mark_published(NAME, ["d6qzRu9zOECb90Uez27xWltNsj0e1Md7GkYYkVoZWmM="], now=T0)
    with pytest.raises(InputError, match="no keys in the store"):
        store.mark_published("other.example.org", now=T0)


def test_operator_key_is_imported_once_and_used(store):
    own = keys.generate_private_key("rsa3072")
    pem = keys.private_key_to_pem(own).decode()
    imported = store.import_key(NAME, pem, role="active", now=T0)
    assert imported.active_pin == pins.spki_pin(own) and imported.key_type == "rsa3072"
    keyset = store.ensure(NAME, key_type="rsa3072", now=T0)
    assert keyset.active_pin == pins.spki_pin(own) and keyset.backup_pin and keyset.backup_pin != keyset.active_pin
    assert store.public_keys(NAME)["backup"].key_size == 3072  # the backup follows the active key's type
    assert store.import_key(NAME, pem, role="active", now=T0).changes == []  # idempotent
    other = keys.private_key_to_pem(keys.generate_private_key()).decode()
    with pytest.raises(InputError, match="already holds a different active key"):
        store.import_key(NAME, other, role="active", now=T0)
    with pytest.raises(InputError, match="a backup must be a different key"):
        store.import_key(NAME, pem, role="backup", replace=True, now=T0)
    replaced = store.import_key(NAME, other, role="active", replace=True, now=T0)
    assert "replaced_active" in replaced.changes and store.retired(NAME)[-1]["pin"] == pins.spki_pin(own)


def test_encrypted_and_unsupported_operator_keys(store):
    own = keys.generate_private_key()
    encrypted = own.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.BestAvailableEncryption(b"s3cret"))
    with pytest.raises(InputError, match="not a readable PEM private key"):
        store.import_key(NAME, encrypted, role="active")
    keyset = store.import_key(NAME, encrypted, role="active", passphrase="s3cret", now=T0)
    assert keyset.active_pin == pins.spki_pin(own)
    stored = open(os.path.join(store.certificate_path(NAME), keystore.key_id(keyset.active_pin) + ".key")).read()
    assert "ENCRYPTED" not in stored  # 0600 in a 0700 directory; the role must deploy it unencrypted
    edwards = keys.private_key_to_pem(ed25519.Ed25519PrivateKey.generate()).decode()
    with pytest.raises(InputError, match="Ed25519 key; the store takes ec256, ec384, rsa2048"):
        store.import_key("ed.example.org", edwards)
    assert not os.path.exists(store.certificate_path("ed.example.org"))


def test_backup_csr_keeps_the_backup_key_offline_until_the_rotation(store):
    store.ensure(NAME, now=T0 - DAY, policy="reuse")
    offline = keys.generate_private_key()
    csr = keys.make_csr(offline, [NAME])
    keyset = store.import_csr(NAME, csr, role="backup", now=T0)
    assert keyset.backup_pin == pins.spki_pin(offline) and not keyset.backup_has_key
    keyset = store.ensure(NAME, policy="pinned", now=T0)
    assert keyset.backup_pin == pins.spki_pin(offline) and "created_backup" not in keyset.changes
    store.mark_published(NAME, now=T0)
    check = store.rotation_check(NAME, max_age=0, tlsa_ttl=0, now=T0)
    assert check.code == keystore.BACKUP_WITHOUT_KEY and "import its private key" in check.reason
    with pytest.raises(InputError, match="held as a CSR only"):
        store.rotate(NAME, emergency=True, reason="even now the key is needed", now=T0)
    with pytest.raises(InputError, match="already holds a different backup key"):
        store.import_key(NAME, keys.private_key_to_pem(keys.generate_private_key()).decode(), role="backup")
    completed = store.import_key(NAME, keys.private_key_to_pem(offline).decode(), role="backup", now=T0)
    assert completed.backup_has_key and completed.changes == ["imported_backup_key"]
    rotation = store.rotate(NAME, max_age=0, tlsa_ttl=0, now=T0)
    assert rotation.new_active_pin == pins.spki_pin(offline)
    # the operator's CSR carried over with its key: the next order uses it as given
    assert store.describe(NAME).active_csr_pem == csr.decode()


def test_active_csr_needs_its_key(store):
    own = keys.generate_private_key()
    csr = keys.make_csr(own, [NAME])
    store.import_csr(NAME, csr, role="active", now=T0)
    with pytest.raises(InputError, match="holds the active key's CSR only"):
        store.ensure(NAME, now=T0)
    store.import_key(NAME, keys.private_key_to_pem(own).decode(), role="active", now=T0)
    keyset = store.ensure(NAME, now=T0)
    assert keyset.active_csr_pem == csr.decode() and pin_of_pem(keyset.active_pem) == pins.spki_pin(own)
    forged = bytearray(csr)
    with pytest.raises(InputError, match="not a PEM certificate signing request|invalid signature"):
        store.import_csr("x.example.org", bytes(forged).replace(b"MII", b"MIJ", 1))


def test_hand_edited_store_is_refused_by_name(store):
    keyset = store.ensure(NAME, now=T0)
    directory = store.certificate_path(NAME)
    active_file = os.path.join(directory, keystore.key_id(keyset.active_pin) + ".key")
    backup_file = os.path.join(directory, keystore.key_id(keyset.backup_pin) + ".key")
    os.replace(backup_file, active_file)
    with pytest.raises(keystore.KeyStoreError, match="does not hold the active key listed in state.json"):
        store.describe(NAME)
    with pytest.raises(keystore.KeyStoreError, match="does not hold the active key"):
        store.rotate(NAME, emergency=True, reason="x")  # nothing rotates on top of a broken store
    os.unlink(active_file)
    with pytest.raises(keystore.KeyStoreError, match="listed in state.json but cannot be read"):
        store.describe(NAME)
    state_path = os.path.join(directory, "state.json")
    state = json.load(open(state_path))
    state["name"] = "other"
    keystore.atomic_write(state_path, json.dumps(state).encode())
    with pytest.raises(keystore.KeyStoreError, match="belongs to certificate 'other'"):
        store.describe(NAME)


def test_content_mode_says_which_variable_to_update_and_keeps_nothing(tmp_path):
    active = keys.generate_private_key()
    backup = keys.generate_private_key()
    active_pem, backup_pem = (keys.private_key_to_pem(k).decode() for k in (active, backup))
    with keystore.KeyStore.from_content(NAME, active_pem, backup_pem, backup_published="2026-10-01T00:00:00Z",
                                        temp_root=str(tmp_path)) as store:
        root = store.path
        assert mode(root) == 0o700
        assert store.content_updates(NAME) == []
        check = store.rotation_check(NAME, max_age=86400, tlsa_ttl=3600, now=T0)
        assert check.safe and check.safe_at == datetime.datetime(2026, 10, 2, tzinfo=datetime.timezone.utc)
        rotation = store.rotate(NAME, max_age=86400, tlsa_ttl=3600, now=T0)
        updates = store.content_updates(NAME)
    assert not os.path.exists(root)
    assert [(u["role"], u["pin"]) for u in updates] == [("active", pins.spki_pin(backup)),
                                                        ("backup", rotation.new_backup_pin)]
    # the old backup moves to the active variable (no key to hand out); the new backup must be stored
    assert (updates[0]["from_role"], updates[0]["key_pem"]) == ("backup", None)
    assert updates[1]["from_role"] is None and pin_of_pem(updates[1]["key_pem"]) == rotation.new_backup_pin
    # first run with nothing: both keys are new and must be stored by the operator
    with keystore.KeyStore.from_content(NAME, temp_root=str(tmp_path)) as store:
        store.ensure(NAME)
        assert [u["role"] for u in store.content_updates(NAME)] == ["active", "backup"]


def test_match_certificates_finds_the_retired_key_to_revoke_with(store, tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID
    keyset = store.ensure(NAME, now=T0)
    key = keys.load_private_key(keyset.active_pem)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(0xC0FFEE).not_valid_before(T0).not_valid_after(T0 + DAY).sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    assert store.match_certificates(NAME, [("served", cert_pem)])[0]["role"] == "active"
    rotation = store.rotate(NAME, emergency=True, reason="leak", now=T0)
    match = store.match_certificates(NAME, [("served", cert_pem)])[0]
    assert match == {"index": 0, "serial": "c0ffee", "pin": rotation.old_active_pin, "role": "retired",
                     "retired_key_path": rotation.retired_key_path}
    with pytest.raises(InputError, match="served holds a private key, not a certificate"):
        store.match_certificates(NAME, [("served", keyset.active_pem)])


def test_time_parsing_names_the_input():
    assert keystore.parse_time("2026-12-01") == datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)
    assert keystore.parse_time("2026-12-01T11:00:00+01:00") == T0
    with pytest.raises(InputError, match="published_at '2026-12-01T10:00:00' has no time zone"):
        keystore.parse_time("2026-12-01T10:00:00", "published_at")
    with pytest.raises(InputError, match="published_at 'yesterday' is not an ISO 8601 time"):
        keystore.parse_time("yesterday", "published_at")


def test_the_store_writes_through_the_host_helper_and_fsyncs_the_directory(tmp_path, monkeypatch):
    """One atomic write for hosts and store: the store's adds the directory fsync, so that the rename survives a crash."""
    from ansible_collections.certfleet.tls.plugins.module_utils import host_files
    synced = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        return real_fsync(fd)
    monkeypatch.setattr(os, "fsync", recording_fsync)
    keystore.atomic_write(str(tmp_path / "a.key"), b"secret")
    assert synced == ["file", "dir"] and mode(str(tmp_path / "a.key")) == 0o600
    del synced[:]
    host_files.atomic_write(str(tmp_path / "cert.pem"), "public", 0o644)
    assert synced == ["file"] and mode(str(tmp_path / "cert.pem")) == 0o644
    assert open(str(tmp_path / "cert.pem")).read() == "public"
