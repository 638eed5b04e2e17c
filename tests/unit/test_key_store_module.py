"""key_store as a real process (the way Ansible runs it): check mode, diff, refusals, content mode, no key in stdout.

Every test reads the raw stdout and stderr of the module and searches them for every private key the store
holds (or was given), line by line.
"""

import datetime
import glob
import json
import os
import stat
import subprocess
import sys
import tempfile

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from ansible_collections.certfleet.tls.plugins.module_utils import keystore
from ansible_collections.certfleet.tls.plugins.module_utils._tls import keys, pins

from conftest import COLLECTIONS, _ansible_path

NAME = "www.example.org"


def run(args, check_mode=False, diff=False, no_log=False):
    """Run plugins/modules/key_store.py as Ansible does; (result, raw stdout + stderr)."""
    payload = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff, _ansible_no_log=no_log,
                   _ansible_verbosity=4)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": payload}, handle)
        path = handle.name
    env = dict(os.environ, PYTHONPATH=COLLECTIONS + os.pathsep + _ansible_path())
    try:
        proc = subprocess.run([sys.executable, "-m", "ansible_collections.certfleet.tls.plugins.modules.key_store",
                               path], capture_output=True, text=True, env=env, timeout=120, check=False)
    finally:
        os.unlink(path)
    try:
        return json.loads(proc.stdout), proc.stdout + proc.stderr
    except ValueError:
        raise AssertionError("key_store printed no JSON: rc=%s\n%s\n%s" % (proc.returncode, proc.stdout, proc.stderr))


def key_lines(*pems):
    return [line for pem in pems for line in pem.splitlines() if line and "-----" not in line]


def assert_no_key(output, store_path=None, extra_pems=()):
    """No private key anywhere in the output: not the store's keys, not the given ones, not a PEM header."""
    pems = list(extra_pems)
    if store_path:
        for path in glob.glob(os.path.join(store_path, "*", "*.key")):
            with open(path) as handle:
                pems.append(handle.read())
    assert "PRIVATE KEY" not in output
    for line in key_lines(*pems):
        assert line not in output


@pytest.fixture
def store_path(tmp_path):
    return str(tmp_path / "keys")


def test_check_mode_creates_nothing_and_shows_no_pins(store_path):
    result, output = run(dict(name=NAME, store_path=store_path), check_mode=True, diff=True)
    assert result["changed"] is True and not result.get("failed"), result
    assert sorted(result["changes"]) == ["created_active", "created_backup", "created_store"]
    assert [p["sha256"] for p in result["pins"]] == [None, None]
    assert result["diff"] == {"before": "(no keys)\n",
                              "after": "active: (a new key) (published: never)\nbackup: (a new key) (published: never)\n"}
    assert not os.path.exists(store_path)
    assert_no_key(output)


def test_present_returns_pins_header_and_tlsa_then_is_idempotent(store_path):
    result, output = run(dict(name=NAME, store_path=store_path, domains=[NAME, "example.org"], tlsa_ports=[443, 25],
                              tlsa_ttl=300), diff=True)
    assert result["changed"] is True, result
    store = keystore.KeyStore(store_path)
    keyset = store.describe(NAME)
    assert result["active_pin"] == keyset.active_pin and result["backup_pin"] == keyset.backup_pin
    assert [(p["role"], p["sha256"], p["private_key_held"]) for p in result["pins"]] == [
        ("active", keyset.active_pin, True), ("backup", keyset.backup_pin, True)]
    assert result["hpkp"]["header_name"] == "Public-Key-Pins-Report-Only"
    assert result["hpkp"]["header_value"] == 'pin-sha256="%s"; pin-sha256="%s"; max-age=5184000' % (
        keyset.active_pin, keyset.backup_pin)
    active_hex, backup_hex = (keystore.key_id(pin) for pin in (keyset.active_pin, keyset.backup_pin))
    assert "_25._tcp.example.org. 300 IN TLSA 3 1 1 %s" % backup_hex in result["tlsa_zone_lines"]
    assert len(result["tlsa"]) == 2 * 2 * 2 and {r["role"] for r in result["tlsa"]} == {"active", "backup"}
    assert {r["data"] for r in result["tlsa"]} == {active_hex, backup_hex}
    assert result["diff"]["after"] == "active: %s (published: never)\nbackup: %s (published: never)\n" % (
        keyset.active_pin, keyset.backup_pin)
    assert "Chrome 72" in json.dumps(result["warnings"])
    assert_no_key(output, store_path)
    again, output = run(dict(name=NAME, store_path=store_path, domains=[NAME, "example.org"]), diff=True)
    assert again["changed"] is False and again["diff"]["before"] == again["diff"]["after"]
    assert_no_key(output, store_path)


def test_planned_rotation_refused_with_the_date_then_done_after_publication(store_path):
    run(dict(name=NAME, store_path=store_path))
    published, dummy = run(dict(name=NAME, store_path=store_path, state="published"))
    assert published["changed"] is True and all(p["published"] for p in published["pins"])
    refused, output = run(dict(name=NAME, store_path=store_path, state="rotated", max_age=86400))
    assert refused["failed"] is True and refused["code"] == "wait"
    safe_at = keystore.parse_time(refused["safe_at"])
    assert datetime.timedelta(hours=23) < safe_at - datetime.datetime.now(datetime.timezone.utc) <= \
        datetime.timedelta(days=1)
    assert "planned rotation of 'www.example.org' refused" in refused["msg"] and refused["safe_at"] in refused["msg"]
    assert_no_key(output, store_path)
    # the operator knows the pins were live two days ago
    back, dummy = run(dict(name=NAME, store_path=store_path, state="published",
                           published_at=keystore.format_time(datetime.datetime.now(datetime.timezone.utc)
                                                             - datetime.timedelta(days=2))))
    assert back["changed"] is True and back["rotation"]["safe"] is False  # default max_age: 60 days
    before = keystore.KeyStore(store_path).describe(NAME)
    checked, output = run(dict(name=NAME, store_path=store_path, state="rotated", max_age=86400), check_mode=True,
                          diff=True)
    assert checked["changed"] is True and checked["rotated"]["new_active_pin"] == before.backup_pin
    assert checked["rotated"]["new_backup_pin"] is None
    assert keystore.KeyStore(store_path).describe(NAME).active_pin == before.active_pin  # check mode wrote nothing
    rotated, output = run(dict(name=NAME, store_path=store_path, state="rotated", max_age=86400), diff=True)
    after = keystore.KeyStore(store_path).describe(NAME)
    assert rotated["changed"] is True and rotated["rotated"]["wait_skipped"] is None
    assert rotated["active_pin"] == before.backup_pin == after.active_pin
    assert rotated["rotated"]["new_backup_pin"] == after.backup_pin
    assert after.backup_pin not in (before.active_pin, before.backup_pin)
    assert before.active_pin in rotated["diff"]["before"] and after.backup_pin in rotated["diff"]["after"]
    assert rotated["rotation"]["code"] == "backup_unpublished"
    assert_no_key(output, store_path, [before.active_pem])


def _certificate(key_pem, serial):
    key = keys.load_private_key(key_pem)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(serial).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256())).public_bytes(serialization.Encoding.PEM).decode()


def test_emergency_rotation_needs_a_reason_and_names_the_retired_key(store_path, tmp_path):
    run(dict(name=NAME, store_path=store_path))
    before = keystore.KeyStore(store_path).describe(NAME)
    served = tmp_path / "served.pem"
    served.write_text(_certificate(before.active_pem, 0xABC))
    missing, dummy = run(dict(name=NAME, store_path=store_path, state="emergency_rotated"))
    assert missing["failed"] is True and "reason" in missing["msg"]
    result, output = run(dict(name=NAME, store_path=store_path, state="emergency_rotated",
                              reason="key copied off web1", certificates=[str(served)]), diff=True)
    assert result["changed"] is True, result
    rotated = result["rotated"]
    assert rotated["emergency"] is True and rotated["old_active_pin"] == before.active_pin
    assert rotated["new_active_pin"] == before.backup_pin
    assert "key copied off web1" in rotated["wait_skipped"]
    assert any("pin-safety wait was skipped" in json.dumps(w) for w in result["warnings"])
    assert stat.S_IMODE(os.stat(rotated["retired_key_path"]).st_mode) == 0o600
    with open(rotated["retired_key_path"]) as handle:
        assert handle.read() == before.active_pem
    assert result["certificates"] == [{"index": 0, "serial": "abc", "pin": before.active_pin, "role": "retired",
                                       "retired_key_path": rotated["retired_key_path"]}]
    assert_no_key(output, store_path, [before.active_pem])


def test_import_of_operator_key_and_backup_csr(store_path, tmp_path):
    own = keys.generate_private_key("ec384")
    own_pem = keys.private_key_to_pem(own).decode()
    key_file = tmp_path / "own.key"
    key_file.write_text(own_pem)
    offline = keys.generate_private_key("ec384")
    csr_file = tmp_path / "backup.csr"
    csr_file.write_bytes(keys.make_csr(offline, [NAME]))
    result, output = run(dict(name=NAME, store_path=store_path, active_key_path=str(key_file),
                              backup_csr_path=str(csr_file)))
    assert result["changed"] is True and result["key_type"] == "ec384", result
    assert result["active_pin"] == pins.spki_pin(own) and result["backup_pin"] == pins.spki_pin(offline)
    assert [p["private_key_held"] for p in result["pins"]] == [True, False]
    assert result["rotation"]["code"] == "backup_without_key"
    assert_no_key(output, store_path, [own_pem])
    bad = tmp_path / "bad.key"
    bad.write_text("not a key")
    failed, output = run(dict(name=NAME, store_path=store_path, backup_key_path=str(bad)))
    assert failed["failed"] is True and "backup key to import for 'www.example.org' is not a readable PEM" in \
        failed["msg"]


def test_content_mode_names_the_variables_and_never_prints_a_key(tmp_path):
    active_pem, backup_pem = (keys.private_key_to_pem(keys.generate_private_key()).decode() for dummy in range(2))
    args = dict(name=NAME, key_source="content", active_key_content=active_pem, backup_key_content=backup_pem,
                backup_published="2026-01-01T00:00:00Z", state="rotated", max_age=86400,
                backup_key_variable="vault_www_backup_key")
    refused, output = run(args)
    assert refused["failed"] is True and "new_keys_dir" in refused["msg"] and "no_log" in refused["msg"]
    assert_no_key(output, extra_pems=[active_pem, backup_pem])
    target = tmp_path / "new-keys"
    result, output = run(dict(args, new_keys_dir=str(target)), diff=True)
    assert result["changed"] is True and result["store"] == "content", result
    moved, made = result["update_variables"]
    # the old backup becomes active: copy one variable into the other, no key leaves the module
    assert moved == {"variable": "certificate_key_contents['www.example.org'].active", "role": "active", "from_variable":
                     "vault_www_backup_key", "pin": pins.spki_pin(keys.load_private_key(backup_pem)), "file": None}
    assert (made["variable"], made["role"], made["from_variable"]) == ("vault_www_backup_key", "backup", None)
    assert made["pin"] == result["rotated"]["new_backup_pin"]
    assert stat.S_IMODE(os.stat(made["file"]).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(str(target)).st_mode) == 0o700
    with open(made["file"]) as handle:
        new_backup_pem = handle.read()
    assert pins.spki_pin(keys.load_private_key(new_backup_pem)) == made["pin"]
    warnings = json.dumps(result["warnings"])
    assert "store in vault_www_backup_key the backup key with pin %s" % made["pin"] in warnings
    assert "store in certificate_key_contents['www.example.org'].active the active key" in warnings
    assert "then set certificate_key_contents['www.example.org'].backup_published when its pin is live" in warnings
    assert "new_keys" not in result
    assert_no_key(output, extra_pems=[active_pem, backup_pem, new_backup_pem])
    # a no_log task receives the new key in new_keys (Ansible hides the whole result of such a task)
    hidden, dummy = run(args, no_log=True)
    assert list(hidden["new_keys"]) == ["vault_www_backup_key"]
    assert pins.spki_pin(keys.load_private_key(hidden["new_keys"]["vault_www_backup_key"])) == \
        hidden["rotated"]["new_backup_pin"]
    # check mode names the variables, and the pin of the moved key only
    checked, output = run(args, check_mode=True)
    assert [(u["variable"], u["pin"] is not None) for u in checked["update_variables"]] == [
        ("certificate_key_contents['www.example.org'].active", True), ("vault_www_backup_key", False)]
    assert_no_key(output, extra_pems=[active_pem, backup_pem])
    # content options with a store are refused, by name
    mixed, output = run(dict(name=NAME, store_path=str(tmp_path / "s"), active_key_content=active_pem))
    assert mixed["failed"] is True and "key_source=content" in mixed["msg"]
    assert_no_key(output, extra_pems=[active_pem])


def test_published_refuses_unknown_pins_and_empty_store(store_path):
    empty, dummy = run(dict(name=NAME, store_path=store_path, state="published"))
    assert empty["failed"] is True and "no keys in the store" in empty["msg"]
    run(dict(name=NAME, store_path=store_path))
    unknown, dummy = run(dict(name=NAME, store_path=store_path, state="published",
                              pins=["d6qzRu9zOECb90Uez27xWltNsj0e1Md7GkYYkVoZWmM="]))
    assert unknown["failed"] is True and "neither its active nor its backup pin" in unknown["msg"]
    future, dummy = run(dict(name=NAME, store_path=store_path, state="published", published_at="2999-01-01"))
    assert future["failed"] is True and "in the future" in future["msg"]


def test_reuse_policy_has_no_header_and_a_name_that_is_no_domain_warns(store_path):
    result, output = run(dict(name="web-cert", store_path=store_path, policy="reuse"))
    assert result["backup_pin"] is None and result["hpkp"] is None and result["tlsa"] == []
    assert "give domains to get TLSA records" in json.dumps(result["warnings"])
    with_domains, dummy = run(dict(name="web-cert", store_path=store_path, policy="reuse", domains=[NAME]))
    assert [r["role"] for r in with_domains["tlsa"]] == ["active"] and with_domains["changed"] is False
    assert_no_key(output, store_path)
