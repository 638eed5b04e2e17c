"""Fleet guards on the rig: a backend group split by --limit (as an AWX slice would split it) fails before any
order while the rest of the run goes on; a per-run order cap defers the excess by name."""

import json
import os
import re
import signal
import subprocess

import rig as rigmod
from rigtools import BASE, run_playbook, served_certificate


def orders_in(log):
    return [r for r in log.requests() if r[0] == "POST" and r[1].startswith("/order-plz")]


def test_a_split_backend_group_fails_clearly_and_the_rest_goes_on(fresh_rig, pebble_log, tmp_path):
    rigmod.set_dns("pair.test", ["127.0.1.1", "127.0.1.2"], base=BASE)
    groups = tmp_path / "groups.yml"
    groups.write_text("all:\n  children:\n    pair:\n      hosts:\n        host1:\n        host2:\n")
    inventories = ["-i", os.path.join(BASE, "inventory.yml"), "-i", str(groups)]
    shared = {"certificate_domains": "{{ ['pair.test'] if inventory_hostname in groups['pair'] else "
                                     "[inventory_hostname ~ '.test'] }}",
              "certificate_backend_group": "{{ 'pair' if inventory_hostname in groups['pair'] else '' }}"}
    log = pebble_log()
    split = run_playbook("certfleet.tls.issue", *inventories, "-e", json.dumps(shared), limit="host1,host3")
    assert split.rc != 0, split
    assert "backend group 'pair'" in split.out and "missing: host2" in split.out, split
    assert "one job slice" in split.out
    assert len(orders_in(log)) == 1, log.requests()  # host3's own certificate only
    assert served_certificate("127.0.1.3", "host3.test", cafile=fresh_rig["pebble_root"])
    assert os.readlink(os.path.join(BASE, "hosts", "host1", "ssl", "live")) == "placeholder"
    assert not os.path.exists(os.path.join(BASE, "hosts", "host1", "ssl", "next")), "nothing staged for it"

    log = pebble_log()
    whole = run_playbook("certfleet.tls.issue", *inventories, "-e", json.dumps(shared), limit="host1,host2")
    assert whole.rc == 0, whole
    assert len(orders_in(log)) == 1
    served = [served_certificate(ip, "pair.test", cafile=fresh_rig["pebble_root"]).serial_number
              for ip in ("127.0.1.1", "127.0.1.2")]
    assert served[0] == served[1]


def test_the_order_cap_defers_the_excess_by_name(fresh_rig, pebble_log):
    log = pebble_log()
    capped = run_playbook("certfleet.tls.issue", "-e", json.dumps({"certificate_max_orders_per_run": 2}))
    assert capped.rc == 0, capped
    assert len(orders_in(log)) == 2, log.requests()
    # Stable order by name: host1.test and host2.test now, host3.test deferred and reported.
    assert "host3 host3.test" in capped.out and "DEFERRED" in capped.out, capped
    assert os.readlink(os.path.join(BASE, "hosts", "host3", "ssl", "live")) == "placeholder"
    probes = os.listdir(os.path.join(BASE, "hosts", "host3", "webroot", ".well-known", "acme-challenge"))
    assert probes == [], "a deferred certificate's probe is removed"
    log = pebble_log()
    later = run_playbook("certfleet.tls.issue", "-e", json.dumps({"certificate_max_orders_per_run": 2}))
    assert later.rc == 0 and len(orders_in(log)) == 1, later
    assert served_certificate("127.0.1.3", "host3.test", cafile=fresh_rig["pebble_root"])


def _frozen_sshd(name):
    """SIGSTOP every sshd process of a rig host and kill our ssh master to it: any SSH to it now hangs/fails."""
    with open(os.path.join(BASE, "hosts", name, "ssh", "sshd.pid")) as handle:
        master = int(handle.read().strip())
    pids = [master] + [int(p) for p in os.listdir("/proc") if p.isdigit() and _ppid(p) == master]
    for pid in pids:
        _signal(pid, signal.SIGSTOP)
    out = subprocess.run(["ss", "-tnpH", "dst", "127.0.1.%s:22" % name[-1]], capture_output=True, text=True,
                         check=False).stdout
    for pid in set(int(p) for p in re.findall(r'"ssh",pid=(\d+)', out)):
        _signal(pid, signal.SIGKILL)
    return pids


def _ppid(pid):
    try:
        with open("/proc/%s/stat" % pid) as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _signal(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def test_a_no_op_decided_over_tls_opens_no_ssh_to_hosts_not_due(fresh_rig, pebble_log):
    assert run_playbook("certfleet.tls.issue").rc == 0
    frozen = _frozen_sshd("host2")  # any SSH to host2 would now fail the run (unreachable)
    try:
        log = pebble_log()
        quiet = run_playbook("certfleet.tls.issue", "-e", json.dumps({"certificate_decide_from": "tls",
                                                                     "ansible_ssh_timeout": 5}))
    finally:
        for pid in frozen:
            _signal(pid, signal.SIGCONT)
    assert quiet.rc == 0, quiet
    assert all(r["changed"] == 0 and r["unreachable"] == 0 for r in quiet.recap.values()), quiet
    assert log.requests() == []
    assert "host2 host2.test serial=" in quiet.out and "served over TLS" in quiet.out, quiet
    # Something due: that host is decided and renewed over SSH, the others still are not touched.
    log = pebble_log()
    due = run_playbook("certfleet.tls.issue", "-e", json.dumps({"certificate_decide_from": "tls",
                                                               "certificate_force": True}), limit="host1")
    assert due.rc == 0 and len(orders_in(log)) == 1, due
