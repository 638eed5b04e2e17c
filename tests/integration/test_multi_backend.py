"""One name served by two hosts (DNS answers both addresses): one key, one order, challenge files on both
backends before the CA validates, the same certificate deployed and served on both."""

import json
import os
import shutil

import rig as rigmod
from rigtools import BASE, run_playbook, served_certificate


def test_two_backends_share_one_certificate(fresh_rig, pebble_log):
    rigmod.set_dns("shared.test", ["127.0.1.1", "127.0.1.2"], base=BASE)
    log = pebble_log()
    run = run_playbook("certfleet.tls.issue", "-e", json.dumps({"certificate_domains": ["shared.test"]}),
                       limit="host1,host2")
    assert run.rc == 0, run
    orders = [r for r in log.requests() if r[0] == "POST" and r[1].startswith("/order-plz")]
    assert len(orders) == 1, "one order for the shared name, not one per backend: %s" % log.requests()
    served = [served_certificate(ip, "shared.test", cafile=fresh_rig["pebble_root"])
              for ip in ("127.0.1.1", "127.0.1.2")]
    assert served[0].serial_number == served[1].serial_number
    keys = [open(os.path.join(BASE, "hosts", h, "ssl", "live", "privkey.pem")).read() for h in ("host1", "host2")]
    assert keys[0] == keys[1]
    # both backends got the challenge: Pebble may have validated against either address
    for host in ("host1", "host2"):
        access = open(os.path.join(BASE, "hosts", host, "nginx", "logs", "access.log")).read()
        assert "/.well-known/acme-challenge/certfleet-probe-" in access  # preflight reached each backend
    log = pebble_log()
    again = run_playbook("certfleet.tls.issue", "-e", json.dumps({"certificate_domains": ["shared.test"]}),
                         limit="host1,host2")
    assert again.rc == 0 and all(r["changed"] == 0 for r in again.recap.values()), again
    assert log.requests() == [], "a run with nothing due sends nothing to the CA"

    # The shared request is removed from both hosts; each now asks for its own name in a sibling directory.
    # The shared certificate's files stay where they are (a site may still use them), reported as unmanaged.
    own = [{"domains": ["{{ inventory_hostname }}.test"], "dir": "{{ rig_host_dir }}/own",
            "webroot": "{{ certificate_webroot }}"}]
    try:
        # Nothing serves the new names on the rig, so the TLS checks of this run are off.
        removed = run_playbook("certfleet.tls.issue", "-e", json.dumps({"certificate_requests": own}),
                               "-e", json.dumps({"certificate_verify": False, "certificate_confirm": False}),
                               limit="host1,host2")
        assert removed.rc == 0, removed.out
        for host, ip in (("host1", "127.0.1.1"), ("host2", "127.0.1.2")):
            assert "UNMANAGED %s" % os.path.join(BASE, "hosts", host, "ssl") in removed.out, removed.out
            assert os.path.islink(os.path.join(BASE, "hosts", host, "ssl", "live")), "a removed request keeps its files"
            kept = served_certificate(ip, "shared.test", cafile=fresh_rig["pebble_root"])
            assert kept.serial_number == served[0].serial_number
    finally:
        for host in ("host1", "host2"):
            shutil.rmtree(os.path.join(BASE, "hosts", host, "own"), ignore_errors=True)
