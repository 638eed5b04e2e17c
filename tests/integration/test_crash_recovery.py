"""A run killed between order and finalize (SIGKILL, no cleanup at all) is followed by a run that succeeds and leaves
no challenge file behind: it resumes the recorded order (and with certificate_order_ahead, the default, abandons the
order it placed before reading the host)."""

import json
import os
import signal
import subprocess
import sys
import time

from rigtools import BASE, ansible_env, run_playbook, served_certificate

HOST = os.path.join(BASE, "hosts", "host1")


def kill_after_the_order_is_recorded(*extra):
    record = os.path.join(HOST, "ssl", "next", "order.json")
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "certfleet.tls.issue",
           "--limit", "host1"] + list(extra)
    proc = subprocess.Popen(cmd, env=ansible_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while not os.path.exists(record):  # the order exists and its challenges are on the host
        assert proc.poll() is None, "the playbook ended before the order was recorded"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert os.readlink(os.path.join(HOST, "ssl", "live")) == "placeholder", "killed too late for this test"
    with open(record) as f:
        return json.load(f)["order_url"]


def test_killed_between_order_and_finalize_then_next_run_resumes_the_recorded_order(fresh_rig, pebble_log):
    kill_after_the_order_is_recorded("-e", "certificate_order_ahead=false")
    log = pebble_log()
    run = run_playbook("certfleet.tls.issue", "-e", "certificate_order_ahead=false", limit="host1")
    assert run.rc == 0, run
    created = [r for r in log.requests() if r[0] == "POST" and r[1].startswith("/order-plz")]
    assert created == [], "the recorded order must be resumed, not ordered again"
    assert_issued_and_clean(fresh_rig)


def test_killed_then_a_run_that_orders_ahead_still_resumes_the_recorded_order(fresh_rig, pebble_log):
    """certificate_order_ahead places an order before the host is read; the host then reports the order the killed run
    recorded, which is resumed (its challenge files are on the host), and the order placed ahead is abandoned."""
    recorded = kill_after_the_order_is_recorded()
    log = pebble_log()
    run = run_playbook("certfleet.tls.issue", "-v", limit="host1")
    assert run.rc == 0, run
    requests = log.requests()
    assert sum(1 for r in requests if r[1].startswith("/order-plz")) == 1, "the order placed ahead: %s" % requests
    assert '"deactivated_authorizations": 1' in run.out and '"resumed": true' in run.out, run
    assert sum(1 for r in requests if r[1].startswith("/chalZ/")) == 1, "only the recorded order is answered"
    assert ('"order_url": "%s"' % recorded) in run.out
    assert_issued_and_clean(fresh_rig)


def assert_issued_and_clean(fresh_rig):
    cert = served_certificate("127.0.1.1", "host1.test", cafile=fresh_rig["pebble_root"])
    assert "Pebble" in cert.issuer.rfc4514_string()
    assert os.listdir(os.path.join(HOST, "webroot", ".well-known", "acme-challenge")) == []
    assert not os.path.exists(os.path.join(HOST, "ssl", "next")), "the staged key and record are consumed"
