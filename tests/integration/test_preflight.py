"""Preflight: a challenge path that answers 404 (an Owncloud-like .htaccess rule) stops the run before any
challenge is answered, so the CA's failed-validation rate limit is never touched. Without certificate_order_ahead it
runs before any order exists; with it (the default) the order placed ahead is abandoned."""

import os

import rig as rigmod
from rigtools import BASE, run_playbook, served_unverified


def test_broken_challenge_path_is_caught_before_any_order(rig, pebble_log):
    rigmod.up(hosts=3, deny_dotfiles=[2], base=BASE)
    try:
        rigmod.reset_hosts(base=BASE)
        log = pebble_log()
        run = run_playbook("certfleet.tls.issue", "-e", "certificate_order_ahead=false", limit="host2")
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


def test_broken_challenge_path_abandons_the_order_placed_ahead(rig, pebble_log):
    rigmod.up(hosts=3, deny_dotfiles=[2], base=BASE)
    try:
        rigmod.reset_hosts(base=BASE)
        log = pebble_log()
        run = run_playbook("certfleet.tls.issue", "-v", limit="host2")
        assert run.rc != 0
        assert "preflight failed before contacting the CA" not in run.out, "the CA was contacted: say so"
        assert "preflight failed before answering the CA" in run.out, run
        assert "answered 404" in run.out
        requests = log.requests()
        assert sum(1 for r in requests if r[1].startswith("/order-plz")) == 1, requests
        assert not [r for r in requests if r[1].startswith("/chalZ/")], "no challenge may be answered: %s" % requests
        assert '"deactivated_authorizations": 1' in run.out, run
        assert os.readlink(os.path.join(BASE, "hosts", "host2", "ssl", "live")) == "placeholder"
        files = os.listdir(os.path.join(BASE, "hosts", "host2", "webroot", ".well-known", "acme-challenge"))
        assert files == [], "the probe and the challenge files must be removed after a failed preflight"
        assert not os.path.exists(os.path.join(BASE, "hosts", "host2", "ssl", "next", "order.json"))
    finally:
        rigmod.up(hosts=3, base=BASE)
