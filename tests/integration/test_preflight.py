"""Preflight: a challenge path that answers 404 (an Owncloud-like .htaccess rule) stops the run before any
order exists, so the CA's failed-validation rate limit is never touched."""

import os

import rig as rigmod
from rigtools import BASE, run_playbook, served_unverified


def test_broken_challenge_path_is_caught_before_any_order(rig, pebble_log):
    rigmod.up(hosts=3, deny_dotfiles=[2], base=BASE)
    try:
        rigmod.reset_hosts(base=BASE)
        log = pebble_log()
        run = run_playbook("certfleet.tls.issue", limit="host2")
        assert run.rc != 0
        assert "preflight failed before contacting the CA" in run.out, run
        assert "http://host2.test/.well-known/acme-challenge/certfleet-probe-" in run.out
        assert "answered 404" in run.out
        requests = log.requests()
        assert not [r for r in requests if r[1].startswith("/order-plz")], requests
        assert requests == [], "the CA must not be contacted at all: %s" % requests
        assert os.readlink(os.path.join(BASE, "hosts", "host2", "ssl", "live")) == "placeholder"
        served = served_unverified("127.0.1.2", "host2.test")
        assert served.issuer == served.subject
        probes = os.listdir(os.path.join(BASE, "hosts", "host2", "webroot", ".well-known", "acme-challenge"))
        assert probes == [], "the probe file must be removed after a failed preflight"
    finally:
        rigmod.up(hosts=3, base=BASE)
