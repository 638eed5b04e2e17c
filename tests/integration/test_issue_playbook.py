"""certfleet.tls.issue on a 3-host rig (2 nginx, 1 Apache): real Pebble, real sshd, real web servers."""

import os
import signal
import stat
import time

import rig as rigmod

from cryptography import x509

from rigtools import BASE, run_playbook, served_certificate, served_unverified


def host_dir(name):
    return os.path.join(BASE, "hosts", name)


def test_issue_then_second_run_changes_nothing(fresh_rig, pebble_log):
    root = fresh_rig["pebble_root"]
    hosts = fresh_rig["host_names"]
    log = pebble_log()

    first = run_playbook("certfleet.tls.issue")
    assert first.rc == 0, first
    assert set(first.recap) == set(hosts), first
    for name in hosts:
        # decide and deploy always change; the push only when the CA asks for a challenge (Pebble, like Let's
        # Encrypt, sometimes reuses a valid authorization: then the order needs no challenge file)
        assert first.recap[name]["changed"] >= 2 and first.recap[name]["failed"] == 0, first

    for index, name in enumerate(hosts, start=1):
        cert = served_certificate("127.0.1.%d" % index, "%s.test" % name, cafile=root)  # chain + hostname verified
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert sans.get_values_for_type(x509.DNSName) == ["%s.test" % name]
        assert "Pebble Intermediate" in cert.issuer.rfc4514_string()
        key = os.path.join(host_dir(name), "ssl", "live", "privkey.pem")
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
        challenges = os.path.join(host_dir(name), "webroot", ".well-known", "acme-challenge")
        assert os.listdir(challenges) == [], "challenge or probe files left behind on %s" % name
        assert "%s.test serial=%x" % (name, cert.serial_number) in first.out  # the printed report

    issued = pebble_log_requests = log.requests()
    assert sum(1 for method, path in issued if path.startswith("/order-plz")) == len(hosts)
    per_cert = len(pebble_log_requests) / len(hosts)
    # 7 per certificate on Pebble (it answers finalize with "processing": one more poll) + 3 per run (directory,
    # nonce, account): the CAA check's directory GET (its caaIdentities) is the order step's too
    assert len(issued) <= 7 * len(hosts) + 3, "ACME requests: %d for %d certificates (%s)" % (
        len(issued), len(hosts), issued)
    assert [path for method, path in issued if method == "GET" and path == "/dir"] == ["/dir"], issued

    log = pebble_log()
    second = run_playbook("certfleet.tls.issue")
    assert second.rc == 0, second
    assert all(r["changed"] == 0 and r["failed"] == 0 for r in second.recap.values()), second
    assert log.requests() == [], "a run with nothing due must not contact the CA"

    report = run_playbook("certfleet.tls.report")
    assert report.rc == 0, report
    for index, name in enumerate(hosts, start=1):
        cert = served_certificate("127.0.1.%d" % index, "%s.test" % name, cafile=root)
        assert "%s %s.test serial=%x" % (name, name, cert.serial_number) in report.out
    assert report.out.count("tls=verified") == len(hosts)


def test_private_key_never_in_output(fresh_rig):
    run = run_playbook("certfleet.tls.issue", "-vvv", limit="host1")
    assert run.rc == 0, run
    key = open(os.path.join(host_dir("host1"), "ssl", "live", "privkey.pem")).read()
    body = "".join(key.strip().splitlines()[1:-1])
    assert body[:40] not in run.out.replace("\n", "")
    assert "BEGIN PRIVATE KEY" not in run.out


def test_check_mode_changes_nothing_and_contacts_no_ca(fresh_rig, pebble_log):
    log = pebble_log()
    run = run_playbook("certfleet.tls.issue", "--check")
    assert run.rc == 0, run
    assert log.requests() == []
    for name in fresh_rig["host_names"]:
        assert os.readlink(os.path.join(host_dir(name), "ssl", "live")) == "placeholder"
        assert not os.path.exists(os.path.join(host_dir(name), "ssl", "next"))


def test_stopped_ca_fails_clearly_within_the_timeout_and_hosts_are_unchanged(fresh_rig):
    pebble_pid = rigmod.status(base=BASE)["pebble"]["pid"]
    os.kill(pebble_pid, signal.SIGTERM)
    try:
        started = time.monotonic()
        run = run_playbook("certfleet.tls.issue", limit="host1", extra_vars={"certificate_acme_timeout": 5})
        elapsed = time.monotonic() - started
        assert run.rc != 0
        # The CAA check before the order is the first to ask the CA (its directory): either message names the URL.
        assert "https://127.0.0.1:14000/dir" in run.out and ("cannot reach the CA" in run.out
                                                             or "cannot be read" in run.out), run
        assert elapsed < 30, "the ACME step must give up within acme_timeout (5 s), run took %.0f s" % elapsed
        assert os.readlink(os.path.join(host_dir("host1"), "ssl", "live")) == "placeholder"
        served = served_unverified("127.0.1.1", "host1.test")
        assert served.issuer == served.subject  # still the self-signed placeholder
        assert os.listdir(os.path.join(host_dir("host1"), "webroot", ".well-known", "acme-challenge")) == []
    finally:
        rigmod.up(hosts=3, base=BASE)  # restarts Pebble (new root: later tests read it from the rig)


def test_ari_enabled_on_a_ca_without_ari_falls_back_to_the_lifetime_fraction(fresh_rig, pebble_log):
    assert run_playbook("certfleet.tls.issue", limit="host1").rc == 0
    log = pebble_log()
    run = run_playbook("certfleet.tls.issue", "-v", limit="host1", extra_vars={"certificate_ari": "true"})
    assert run.rc == 0 and run.recap["host1"]["changed"] == 0, run
    assert "the CA offers no ARI" in run.out
    assert [r for r in log.requests() if r[0] == "POST"] == [], "ARI is two GETs, never an order"
