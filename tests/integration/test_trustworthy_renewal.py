"""Issue 7 on the rig: no silent non-renewal, no mismatched pair, no hidden input error, a role that composes.

Each test starts from the rig's self-signed placeholders (fresh_rig) and talks to the real Pebble, sshd and web
servers. Faults are real: SIGKILL of the host-side deploy module, two ansible-playbook processes at once, an sshd
frozen between the order step and the challenge push.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from rigtools import BASE, ansible_env, run_playbook, served_certificate

PLAYBOOKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "playbooks")


def host_path(name, *parts):
    return os.path.join(BASE, "hosts", name, *parts)


def nginx_cmd(name, *args):
    prefix = host_path(name, "nginx") + "/"
    return ["/usr/sbin/nginx", "-p", prefix, "-c", "conf/nginx.conf", "-e", prefix + "logs/error.log"] + list(args)


def issue(*args, extra=None, limit="host1"):
    more = ["-e", json.dumps(extra)] if extra else []
    return run_playbook("certfleet.tls.issue", *(more + list(args)), limit=limit)


def served_serial(name, index, root):
    return served_certificate("127.0.1.%d" % index, "%s.test" % name, cafile=root).serial_number


def live_pair_matches(name):
    """The key in live/ belongs to the certificate in live/ (never a mismatched pair on disk)."""
    live = host_path(name, "ssl", "live")
    with open(os.path.join(live, "privkey.pem"), "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), None)
    with open(os.path.join(live, "cert.pem"), "rb") as handle:
        cert = x509.load_pem_x509_certificate(handle.read())
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key.public_key().public_bytes(*spki) == cert.public_key().public_bytes(*spki)


@pytest.mark.parametrize("point", ["after_switch_before_reload", "after_reload_before_cleanup"])
def test_deploy_killed_on_the_host_then_the_next_run_renews(fresh_rig, point):
    root = fresh_rig["pebble_root"]
    assert issue().rc == 0
    before = served_serial("host1", 1, root)
    marker = host_path("host1", "ssl", "deploying.json")
    if point == "after_switch_before_reload":
        # The config test runs in the decide step too: kill only when the deploy's marker exists (after the switch).
        kill = {"certificate_test_command": ["sh", "-c", 'if [ -e "%s" ]; then kill -9 $PPID; fi; exec "$@"' % marker,
                                             "sh"] + nginx_cmd("host1", "-t")}
    else:
        reload = nginx_cmd("host1", "-s", "reload")
        kill = {"certificate_reload_command": ["sh", "-c", '"$@"; kill -9 $PPID', "sh"] + reload}
    killed = issue(extra=dict(kill, certificate_force=True))
    assert killed.rc != 0 and ('"rc": 137' in killed.out or "MODULE FAILURE" in killed.out), killed
    assert os.path.exists(marker), "the kill must leave the deploy marker"
    assert os.readlink(host_path("host1", "ssl", "live")).startswith("releases/")

    # A plain run, nothing forced: the unconfirmed deploy makes the certificate due, and a new pair is served.
    again = issue("-v")
    assert again.rc == 0, again
    assert '"code": "interrupted_deploy"' in again.out, again
    now = served_serial("host1", 1, root)
    assert now != before
    assert not os.path.exists(marker) and not os.path.exists(host_path("host1", "ssl", "next"))
    assert live_pair_matches("host1")
    with open(host_path("host1", "ssl", "live", "cert.pem"), "rb") as handle:
        assert x509.load_pem_x509_certificate(handle.read()).serial_number == now
    quiet = issue()
    assert quiet.rc == 0 and quiet.recap["host1"]["changed"] == 0, quiet


def test_stale_next_is_discarded_when_nothing_is_due(fresh_rig, pebble_log):
    """The round-1 silent non-renewal: next/ holding the live key made every later run resume the old order."""
    assert issue().rc == 0
    live = host_path("host1", "ssl", "live")
    with open(os.path.join(live, "privkey.pem"), "rb") as handle:
        key_pem = handle.read()
    key = serialization.load_pem_private_key(key_pem, None)
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "host1.test")]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName("host1.test")]), critical=False)
           .sign(key, hashes.SHA256()))
    staged = host_path("host1", "ssl", "next")
    os.makedirs(staged, mode=0o700)
    with open(os.path.join(staged, "privkey.pem"), "wb") as handle:
        handle.write(key_pem)
    with open(os.path.join(staged, "request.csr"), "wb") as handle:
        handle.write(csr.public_bytes(serialization.Encoding.PEM))
    with open(os.path.join(staged, "order.json"), "w") as handle:
        json.dump({"order_url": "https://127.0.0.1:14000/my-order/stale"}, handle)
    log = pebble_log()
    run = issue()
    assert run.rc == 0 and run.recap["host1"]["changed"] == 1, run
    assert not os.path.exists(staged)
    assert log.requests() == []


def test_overlapping_runs_never_serve_a_mismatched_pair(fresh_rig):
    root = fresh_rig["pebble_root"]
    assert issue().rc == 0
    before = served_serial("host1", 1, root)
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "certfleet.tls.issue", "--limit", "host1",
           "-e", json.dumps({"certificate_force": True, "certificate_lock_timeout": 2})]
    procs = [subprocess.Popen(cmd, env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for dummy in range(2)]
    outs = [proc.communicate(timeout=300)[0] for proc in procs]
    rcs = [proc.returncode for proc in procs]
    assert 0 in rcs, outs
    for rc, out in zip(rcs, outs):
        if rc != 0:  # the loser says why: the lock, or a key re-staged under it
            assert ("locked by another certfleet run" in out or "does not belong to this certificate" in out
                    or "Preflight" in out or "preflight" in out), out
    assert live_pair_matches("host1")
    served = served_serial("host1", 1, root)
    with open(host_path("host1", "ssl", "live", "cert.pem"), "rb") as handle:
        assert x509.load_pem_x509_certificate(handle.read()).serial_number == served != before


def _sshd_pids(name):
    with open(host_path(name, "ssh", "sshd.pid")) as handle:
        master = int(handle.read().strip())
    pids = [master]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as handle:
                    if int(handle.read().rsplit(")", 1)[1].split()[1]) == master:
                        pids.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return pids


def _signal(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass  # an sshd session child that ended meanwhile


def _ssh_clients_of(address):
    """PIDs of local ssh client processes with a TCP connection to address:22 (from ss -tnp)."""
    out = subprocess.run(["ss", "-tnpH", "dst", "%s:22" % address], capture_output=True, text=True,
                         check=False).stdout
    return sorted(set(int(pid) for pid in re.findall(r'"ssh",pid=(\d+)', out)))


def test_a_host_lost_after_the_order_step_is_never_validated(fresh_rig, pebble_log):
    """host2 freezes after its preflight: its order is deactivated, its challenge never answered. Ordered after the
    decide step (certificate_order_ahead=false): the challenge push is what finds host2 gone. Ordered ahead, host2's
    challenge files are already written by its decide step, and the deploy is the next contact."""
    log = pebble_log()
    access_log = host_path("host2", "nginx", "logs", "access.log")
    offset = os.path.getsize(access_log) if os.path.exists(access_log) else 0
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "certfleet.tls.issue", "-v",
           "--limit", "host1,host2", "-e", "ansible_ssh_timeout=5", "-e", "certificate_order_ahead=false"]
    proc = subprocess.Popen(cmd, env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    frozen = []
    try:
        deadline = time.monotonic() + 60
        while True:  # the preflight GET is the last thing host2 does before the order step
            if os.path.exists(access_log):
                with open(access_log) as handle:
                    handle.seek(offset)
                    if "certfleet-probe-" in handle.read():
                        break
            assert proc.poll() is None and time.monotonic() < deadline, "host2 never got its preflight"
            time.sleep(0.005)
        frozen = _sshd_pids("host2")
        for pid in frozen:
            _signal(pid, signal.SIGSTOP)
        for pid in _ssh_clients_of("127.0.1.2"):  # host2's ControlPersist master only: host1 keeps its own
            _signal(pid, signal.SIGKILL)
        out = proc.communicate(timeout=300)[0]
    finally:
        for pid in frozen:
            _signal(pid, signal.SIGCONT)
    requests = log.requests()
    assert proc.returncode != 0, out
    assert "UNREACHABLE" in out or "unreachable=1" in out, out
    assert sum(1 for method, path in requests if path.startswith("/order-plz")) == 2, requests
    # One challenge answered (host1); host2's order abandoned with its authorization deactivated.
    assert sum(1 for method, path in requests if path.startswith("/chalZ/")) == 1, requests
    assert '"deactivated_authorizations": 1' in out, out
    assert served_certificate("127.0.1.1", "host1.test", cafile=fresh_rig["pebble_root"])
    assert "host2: no result" in out or "host2 host2.test" in out, out


@pytest.mark.parametrize("override,named", [
    ({"certificate_dir": "ssl/host1"}, "certificate_dir"),
    ({"certificate_domains": ["127.0.1.1"]}, "IP address"),
    ({"certificate_acme_directory": "letsencrpyt"}, "acme_directory"),
    ({"certificate_webroot": "/tmp/certfleet/rig/hosts/host1/no-such-webroot"}, "no-such-webroot"),
])
def test_input_errors_fail_every_run_before_any_key_or_request(fresh_rig, pebble_log, override, named):
    """An input the control node can check never reaches the CA. A webroot missing on the host is found by the
    host's read: the order placed ahead for the forced run (certificate_order_ahead) is then abandoned, unanswered;
    without ordering ahead the CA is not contacted at all."""
    assert issue().rc == 0  # nothing due now: the error must show anyway
    staged = host_path("host1", "ssl", "next")
    log = pebble_log()
    for extra in (override, dict(override, certificate_force=True)):
        run = issue(extra=extra)
        assert run.rc != 0 and named in run.out, run
        assert not os.path.exists(staged), "a key was staged before the input was checked"
    if named == "no-such-webroot":
        assert_abandoned_unanswered(log.requests(), orders=1)
        log = pebble_log()
        run = issue(extra=dict(override, certificate_force=True, certificate_order_ahead=False))
        assert run.rc != 0 and named in run.out, run
    assert log.requests() == []


def assert_abandoned_unanswered(requests, orders):
    """At most ``orders`` orders placed (ahead), and none of them answered, finalized or downloaded."""
    assert sum(1 for method, path in requests if path.startswith("/order-plz")) <= orders, requests
    assert not [r for r in requests if r[1].startswith(("/chalZ/", "/finalize-order/", "/certZ/"))], requests


def test_a_config_that_already_fails_gets_no_order(fresh_rig, pebble_log):
    root = fresh_rig["pebble_root"]
    assert issue().rc == 0
    working = served_serial("host1", 1, root)
    release = os.readlink(host_path("host1", "ssl", "live"))
    broken = host_path("host1", "nginx", "conf.d", "broken.conf")
    with open(broken, "w") as handle:
        handle.write("this is not nginx syntax;\n")
    log = pebble_log()
    try:
        for extra in ({}, {"certificate_force": True, "certificate_order_ahead": False}):  # due or not
            run = issue(extra=extra)
            assert run.rc != 0 and "already fails on this host" in run.out and "host1" in run.out, run
        assert log.requests() == [], "a host with a broken config must not get an order"
        # Ordered ahead (the forecast over TLS cannot see the config), the order is abandoned, never answered.
        run = issue(extra={"certificate_force": True})
        assert run.rc != 0 and "already fails on this host" in run.out, run
        assert_abandoned_unanswered(log.requests(), orders=1)
        assert os.readlink(host_path("host1", "ssl", "live")) == release
        assert served_serial("host1", 1, root) == working
    finally:
        os.unlink(broken)
    again = issue(extra={"certificate_force": True})
    assert again.rc == 0, again
    assert served_serial("host1", 1, root) != working


@pytest.mark.parametrize("force", [False, True])
def test_the_role_composes_with_later_tasks_and_plays(fresh_rig, force):
    assert issue(limit="host1,host2").rc == 0
    run = run_playbook(os.path.join(PLAYBOOKS, "compose.yml"), "-e", json.dumps({"certificate_force": force}),
                       limit="host1,host2")
    assert run.rc == 0, run
    for name in ("host1", "host2"):
        assert "LATER TASK %s" % name in run.out and "SECOND PLAY %s" % name in run.out, run
        assert "RESULTS %s due=%s" % (name, force) in run.out, run
