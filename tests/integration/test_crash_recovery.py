"""A run killed between order and finalize (SIGKILL, no cleanup at all) is followed by a run that succeeds,
resumes the recorded order instead of placing a new one, and leaves no challenge file behind."""

import os
import signal
import subprocess
import sys
import time

from rigtools import BASE, ansible_env, run_playbook, served_certificate

HOST = os.path.join(BASE, "hosts", "host1")


def test_killed_between_order_and_finalize_then_next_run_succeeds(fresh_rig, pebble_log):
    record = os.path.join(HOST, "ssl", "next", "order.json")
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "certfleet.tls.issue",
           "--limit", "host1"]
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

    log = pebble_log()
    run = run_playbook("certfleet.tls.issue", limit="host1")
    assert run.rc == 0, run
    created = [r for r in log.requests() if r[0] == "POST" and r[1].startswith("/order-plz")]
    assert created == [], "the recorded order must be resumed, not ordered again"
    cert = served_certificate("127.0.1.1", "host1.test", cafile=fresh_rig["pebble_root"])
    assert "Pebble" in cert.issuer.rfc4514_string()
    assert os.listdir(os.path.join(HOST, "webroot", ".well-known", "acme-challenge")) == []
    assert not os.path.exists(os.path.join(HOST, "ssl", "next")), "the staged key and record are consumed"
