"""Issue 9 on the rig: operator-owned keys (reuse, pinned), planned and emergency rotation, pins and TLSA output.

Runs certfleet.tls.issue and certfleet.tls.rotate against the real Pebble, sshd, nginx and Apache of the rig, with a
key store in a temporary directory of the control node. Role variables used: certificate_key_policy
(rotate_each_issue | reuse | pinned) and certificate_key_store (the store's path).
"""

import base64
import datetime
import hashlib
import json
import os
import re
import ssl
import stat
import subprocess
import sys
import urllib.request

from cryptography.hazmat.primitives import serialization

from rigtools import BASE, ansible_env, run_playbook, served_unverified

HOSTS = os.path.join(BASE, "hosts")


def spki_pin(public_key):
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def served_pin(index):
    return spki_pin(served_unverified("127.0.1.%d" % index, "host%d.test" % index).public_key())


def served_serial(index):
    return "%x" % served_unverified("127.0.1.%d" % index, "host%d.test" % index).serial_number


def playbook(name, limit, store, *args, **extra):
    variables = dict(certificate_key_store=store, **extra)
    return run_playbook("certfleet.tls.%s" % name, "-e", json.dumps(variables), *args, limit=limit)


def key_store(**args):
    """certfleet.tls.key_store as the operator runs it (ad hoc on the control node), its result as a dict."""
    env = dict(ansible_env(), ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible"), "localhost", "-m", "certfleet.tls.key_store",
           "-a", json.dumps(args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, check=False)
    try:
        return json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    except (ValueError, KeyError, IndexError):
        raise AssertionError("ansible key_store: rc=%s\n%s\n%s" % (proc.returncode, proc.stdout, proc.stderr))


def store_state(store, name):
    directories = [d for d in os.listdir(store) if d.startswith(name + "-")]
    assert len(directories) == 1, os.listdir(store)
    with open(os.path.join(store, directories[0], "state.json")) as handle:
        return os.path.join(store, directories[0]), json.load(handle)


def store_key(store, name, role):
    directory, state = store_state(store, name)
    with open(os.path.join(directory, state[role]["key"])) as handle:
        return handle.read()


def all_store_keys(store):
    found = []
    for root, dummy, files in os.walk(store):
        found += [open(os.path.join(root, f)).read() for f in files if f.endswith(".key")]
    return found


def body_lines(pem):
    return [line for line in pem.splitlines() if line and "-----" not in line]


def files_holding(pem, top=HOSTS):
    """Every file under ``top`` (every host's whole tree) holding any line of the key's base64 body."""
    lines = [line.encode() for line in body_lines(pem)]
    holding = []
    for root, dummy, files in os.walk(top):
        for filename in files:
            path = os.path.join(root, filename)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            try:
                with open(path, "rb") as handle:
                    data = handle.read()
            except OSError:
                continue
            if any(line in data for line in lines):
                holding.append(path)
    return holding


def live_key_pin(host):
    with open(os.path.join(HOSTS, host, "ssl", "live", "privkey.pem"), "rb") as handle:
        return spki_pin(serialization.load_pem_private_key(handle.read(), None).public_key())


def assert_no_private_key(output, pems):
    assert "PRIVATE KEY" not in output
    for pem in pems:
        for line in body_lines(pem):
            assert line not in output, "a private key line is in the output"


def assert_store_modes(store):
    assert stat.S_IMODE(os.stat(store).st_mode) == 0o700
    for root, dirs, files in os.walk(store):
        for name in dirs:
            assert stat.S_IMODE(os.stat(os.path.join(root, name)).st_mode) == 0o700, name
        for name in files:
            assert stat.S_IMODE(os.stat(os.path.join(root, name)).st_mode) == 0o600, name


def cert_status(serial_hex):
    context = ssl.create_default_context(cafile=os.path.join(BASE, "pebble", "ca.pem"))
    with urllib.request.urlopen("https://127.0.0.1:15000/cert-status-by-serial/%s" % serial_hex,
                                context=context, timeout=5) as response:
        return json.load(response)


def test_reuse_keeps_the_served_key_and_rotate_each_issue_changes_it(fresh_rig, tmp_path):
    store = str(tmp_path / "keys")
    policy = "{{ 'reuse' if inventory_hostname == 'host1' else 'rotate_each_issue' }}"
    first = playbook("issue", "host1,host2", store, certificate_key_policy=policy)
    assert first.rc == 0, first
    reused_pin, fresh_pin = served_pin(1), served_pin(2)
    dummy, state = store_state(store, "host1.test")
    assert state["policy"] == "reuse" and state["active"]["pin"] == reused_pin and state["backup"] is None
    assert not [d for d in os.listdir(store) if d.startswith("host2.test-")]  # rotate_each_issue keeps nothing
    serials = served_serial(1), served_serial(2)
    # A renewal decided by the lifetime rule (renew 90 days before the end of a 90-day certificate), not forced.
    renewal = playbook("issue", "host1,host2", store, "-v", certificate_key_policy=policy,
                       certificate_renew_before_days=90)
    assert renewal.rc == 0, renewal
    assert '"code": "lifetime_days"' in renewal.out, renewal
    assert (served_serial(1), served_serial(2)) != serials and served_serial(1) != serials[0]
    assert served_pin(1) == reused_pin  # DANE 3 1 1 records of host1 stay valid
    assert served_pin(2) != fresh_pin
    assert_store_modes(store)


def test_planned_rotation_on_the_rig(fresh_rig, tmp_path):
    store = str(tmp_path / "keys")
    first = playbook("issue", "host1", store, certificate_key_policy="pinned")
    assert first.rc == 0, first
    dummy, state = store_state(store, "host1.test")
    old_active, old_backup = state["active"]["pin"], state["backup"]["pin"]
    assert served_pin(1) == old_active and live_key_pin("host1") == old_active
    old_active_pem, old_backup_pem = store_key(store, "host1.test", "active"), store_key(store, "host1.test", "backup")
    assert files_holding(old_backup_pem) == [], "the backup key was copied to a host"
    assert_store_modes(store)

    # What the operator publishes before the rotation: both pins in the header, both 3 1 1 records.
    before = key_store(name="host1.test", store_path=store, state="published", max_age=86400)
    assert before["changed"] is True, before
    expected_header = 'pin-sha256="%s"; pin-sha256="%s"; max-age=86400' % (old_active, old_backup)
    assert before["hpkp"]["header_value"] == expected_header
    old_tlsa = {line.rsplit(" ", 1)[1] for line in before["tlsa_zone_lines"]}
    assert old_tlsa == {base64.b64decode(p).hex() for p in (old_active, old_backup)}
    first_published = store_state(store, "host1.test")[1]["published"][old_backup]
    published = datetime.datetime.strptime(first_published, "%Y-%m-%dT%H:%M:%SZ")
    safe_at = (published + datetime.timedelta(seconds=86400)).strftime("%Y-%m-%dT%H:%M:%SZ")

    # Too early: refused before anything moves, with the date at which it becomes safe.
    early = playbook("rotate", "host1", store, certificate_key_policy="pinned", rotate_max_age=86400)
    assert early.rc != 0 and "planned rotation of 'host1.test' refused" in early.out, early
    assert "safe from %s" % safe_at in early.out, early
    assert "TASK [certfleet.tls.certificate" not in early.out  # the role never ran
    assert store_state(store, "host1.test")[1]["active"]["pin"] == old_active and served_pin(1) == old_active

    # The operator knows the pins have been live for two days.
    two_days_ago = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=2)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    assert key_store(name="host1.test", store_path=store, state="published", published_at=two_days_ago)["changed"]
    rotated = playbook("rotate", "host1", store, "-vvv", "--diff", certificate_key_policy="pinned",
                       rotate_max_age=86400)
    assert rotated.rc == 0, rotated
    directory, state = store_state(store, "host1.test")
    new_backup = state["backup"]["pin"]
    assert state["active"]["pin"] == old_backup and new_backup not in (old_active, old_backup)
    assert served_pin(1) == old_backup and live_key_pin("host1") == old_backup
    new_backup_pem = store_key(store, "host1.test", "backup")
    assert files_holding(new_backup_pem) == [], "the new backup key reached a host"
    assert files_holding(old_active_pem, os.path.join(HOSTS, "host1", "ssl", "live") + "/") == []
    # The header and the TLSA records moved by one key.
    assert ('header: Public-Key-Pins-Report-Only: pin-sha256=\\"%s\\"; pin-sha256=\\"%s\\"; max-age=86400'
            % (old_backup, new_backup)) in rotated.out, rotated
    for pin in (old_backup, new_backup):
        assert "_443._tcp.host1.test. 3600 IN TLSA 3 1 1 %s" % base64.b64decode(pin).hex() in rotated.out
    assert base64.b64decode(old_active).hex() not in re.findall(r"TLSA: (.*)", rotated.out)[-1]
    assert "active pin: %s -> %s" % (old_active, old_backup) in rotated.out
    assert_no_private_key(rotated.out, all_store_keys(store) + [old_active_pem, new_backup_pem])
    assert_store_modes(store)


def test_emergency_rotation_revokes_with_keycompromise(fresh_rig, tmp_path):
    store = str(tmp_path / "keys")
    first = playbook("issue", "host2", store, certificate_key_policy="pinned")
    assert first.rc == 0, first
    dummy, state = store_state(store, "host2.test")
    old_active, old_backup = state["active"]["pin"], state["backup"]["pin"]
    old_serial = served_serial(2)
    old_active_pem = store_key(store, "host2.test", "active")
    # Published a minute ago with a 60-day max-age: a planned rotation would wait 60 days.
    assert key_store(name="host2.test", store_path=store, state="published")["changed"] is True

    run = playbook("rotate", "host2", store, "-vvv", "--diff", certificate_key_policy="pinned", emergency=True,
                   reason="key copied off host2")
    assert run.rc == 0, run
    assert "pin-safety wait was skipped" in run.out and "key copied off host2" in run.out, run
    status = cert_status(old_serial)
    assert status["Status"] == "Revoked" and status["Reason"] == 1, status  # keyCompromise
    assert served_pin(2) == old_backup and served_serial(2) != old_serial
    directory, state = store_state(store, "host2.test")
    assert state["active"]["pin"] == old_backup and state["backup"]["pin"] not in (old_active, old_backup)
    assert state["history"][-1]["event"] == "emergency_rotated"
    assert files_holding(store_key(store, "host2.test", "backup")) == []
    assert_no_private_key(run.out, all_store_keys(store) + [old_active_pem])
    assert_store_modes(store)


def test_emergency_without_reason_changes_nothing(rig, tmp_path):
    store = str(tmp_path / "keys")
    assert key_store(name="host1.test", store_path=store)["changed"] is True
    before = store_state(store, "host1.test")[1]
    run = playbook("rotate", "host1", store, emergency=True, certificate_key_policy="pinned")
    assert run.rc != 0 and "emergency=true needs a reason" in run.out, run
    assert store_state(store, "host1.test")[1] == before


def test_content_mode_certificates_are_refused_by_name(rig, tmp_path):
    """Keys from certificate_key_contents cannot be written back by a playbook: the run says what to do instead."""
    store = str(tmp_path / "keys")
    run = playbook("rotate", "host1", store, emergency=True, reason="leak", certificate_key_policy="pinned",
                   certificate_key_contents={"host1.test": {"backup_published": "2026-01-01T00:00:00Z"}})
    assert run.rc != 0 and "['host1.test'] take their keys from certificate_key_contents" in run.out, run
    assert "key_source=content" in run.out
    assert not os.path.exists(store)
