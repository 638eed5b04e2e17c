"""One name served by two hosts (DNS answers both addresses): one key, one order, challenge files on both
backends before the CA validates, the same certificate deployed and served on both."""

import json
import os

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
    again = run_playbook("certfleet.tls.issue", "-e", json.dumps({"certificate_domains": ["shared.test"]}),
                         limit="host1,host2")
    assert again.rc == 0 and all(r["changed"] == 0 for r in again.recap.values()), again
