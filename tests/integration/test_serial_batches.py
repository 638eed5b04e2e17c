"""A rolling renewal (`serial: 2` over three hosts): each batch orders only its own certificates.

The fleet-wide lists of the role (the due certificates, the capped orders) are per batch: a batch that also
ordered an earlier batch's certificates would place them twice (and abandon one of each pair).
"""

import os

from rigtools import run_playbook, served_certificate

PLAYBOOKS = os.path.join(os.path.dirname(__file__), "playbooks")


def test_serial_batches_order_each_certificate_once(fresh_rig, pebble_log):
    log = pebble_log()
    run = run_playbook(os.path.join(PLAYBOOKS, "serial.yml"), limit="host1,host2,host3")
    assert run.rc == 0, run
    orders = [r for r in log.requests() if r[0] == "POST" and r[1].startswith("/order-plz")]
    assert len(orders) == 3, "one newOrder per host over the two batches: %s" % log.requests()
    for number in (1, 2, 3):
        cert = served_certificate("127.0.1.%d" % number, "host%d.test" % number, cafile=fresh_rig["pebble_root"])
        assert cert.issuer != cert.subject, "host%d serves a CA-issued certificate" % number
