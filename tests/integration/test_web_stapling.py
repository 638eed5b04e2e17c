"""OCSP staples served by the web roles, and the served HPKP pins recorded in the key store, on the rig.

The site playbook (playbooks/web_site.yml) runs against the project's fake ACME server issuing with the rig OCSP CA
(its certificates name the rig's `openssl ocsp` responder, http://127.0.0.1:6960/):

- host1 (nginx): site host1-www with ocsp_stapling. The staple is fetched and verified on the control node and
  served from the live release (`ssl_stapling_file`); a second run contacts no responder; a renewal goes live with
  its own staple; a revoked certificate is refused by name and no longer stapled while host3 goes on; a renewal to
  a certificate without an OCSP URL goes live (nginx -t passes without a staple file) and the site works unstapled.
- host2 (nginx): site host2-www with key_policy pinned and an HPKP header whose backup is the key store's backup
  pin: the store records the served pins as published, never in check mode.
- host3 (Apache): site host3-www with ocsp_stapling, stapled by mod_ssl through the one SSLStaplingCache.

Staples are read in the handshake by tls_verify (check_staple) and by OpenSSL's own client (`openssl s_client
-status`), the independent reader.
"""

import base64
import importlib.util
import json
import os
import re
import subprocess

import pytest

import rig as rigmod  # tests/rig/rig.py
from fakeacme import FakeAcme
from rigtools import BASE, run_playbook, served_unverified
from test_web_roles import (INVENTORIES, SITE_PLAYBOOK, WEB_ONLY, clean_hosts, conf_dir, failures,
                            host_path, https_get, site_path)

ISSUE_PLAYBOOK = "certfleet.tls.issue"
NAMES = {"www.host1.test": "127.0.1.1", "www.host2.test": "127.0.1.2", "www.host3.test": "127.0.1.3"}
LIMIT = "host1,host2,host3"


def run_module(name, args, check_mode=False):
    """tests/conftest.py's run_module (the module_runner fixture is per test; the fixtures here are per module)."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "conftest.py")
    spec = importlib.util.spec_from_file_location("certfleet_tests_conftest", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.run_module(name, args, check_mode=check_mode)


def requests_of(store):
    def www(host, **extra):
        return dict({"name": "%s-www" % host, "domains": ["www.%s.test" % host],
                     "dir": host_path(host, "sites", "www"), "webroot": host_path(host, "sites", "www", "webroot"),
                     "extra": 'location / {\n    default_type text/plain;\n    return 200 "%s stapled\\n";\n}\n'
                              % host}, **extra)
    return {"host1": [www("host1", ocsp_stapling=True)],
            "host2": [www("host2", key_policy="pinned", hpkp={"backup": [store["backup_pin"]], "max_age": 600})],
            "host3": [www("host3", ocsp_stapling=True, extra="", document_root=host_path("host3", "apache", "htdocs"))]}


def ocsp_posts(log, offset):
    """The requests the rig's OCSP responder answered since ``offset`` (one log line per POST or GET)."""
    with open(log) as handle:
        handle.seek(offset)
        return re.findall(r'"(?:POST|GET) [^"]*"', handle.read())


def openssl_status(address, name, ca_pem):
    proc = subprocess.run(["openssl", "s_client", "-connect", "%s:443" % address, "-servername", name, "-status",
                           "-CAfile", ca_pem], input="", capture_output=True, text=True, timeout=30, check=False)
    return proc.stdout


def served_staple(module_runner, responder, address, name, serial=None):
    target = {"address": address, "server_name": name}
    if serial:
        target["expect_serial"] = serial
    result = module_runner("tls_verify", dict(targets=[target], ca_bundle=responder["ca_pem"], wait=10))
    assert not result.get("failed"), result
    return result["results"][0]


class Fleet:
    """The rig hosts with the stapling inventory; each run a playbook against the fake CA of the moment."""

    def __init__(self, tmp, store, responder):
        self.store, self.responder = store, responder
        self.inventory = str(tmp / "stapling.json")
        hosts = {host: {"certificate_requests": requests} for host, requests in requests_of(store).items()}
        with open(self.inventory, "w") as handle:
            json.dump({"all": {"hosts": hosts, "vars": {"certificate_key_store": store["path"]}}}, handle)

    def run(self, playbook, fake, *args, limit=LIMIT, **extra):
        extra_vars = {"certificate_acme_directory": fake.directory_url,
                      "certificate_verify_ca_bundle": self.responder["ca_pem"]}
        extra_vars.update(extra)
        return run_playbook(playbook, *(INVENTORIES + ["-i", self.inventory, "-e", json.dumps(extra_vars)]
                                        + list(args)), limit=limit)


@pytest.fixture(scope="module")
def fleet(responder, tmp_path_factory):
    """Bare hosts, a key store with host2-www's keys, a check-mode run, then the site playbook; hosts cleaned after."""
    for name, address in NAMES.items():
        rigmod.set_dns(name, [address], base=BASE)
    clean_hosts()
    tmp = tmp_path_factory.mktemp("stapling")
    store_path = str(tmp / "keys")
    keys = run_module("key_store", {"name": "host2-www", "domains": ["www.host2.test"], "store_path": store_path,
                                    "policy": "pinned"})
    assert not keys.get("failed"), keys
    fleet = Fleet(tmp, {"path": store_path, "backup_pin": keys["backup_pin"], "active_pin": keys["active_pin"]},
                  responder)
    fake = FakeAcme(issuing_ca=rigmod.ocsp_fakeacme_issuer(base=BASE))
    with fake:
        fleet.fake = fake
        fleet.check = fleet.run(WEB_ONLY, fake, "--check", "--diff")
        fleet.first = fleet.run(SITE_PLAYBOOK, fake)
        fleet.first_serial = "%x" % served_unverified("127.0.1.1", "www.host1.test").serial_number
        fleet.pins_first = store_pins(fleet.store)
        # host2's header would now pin the issued key instead of the placeholder's: check mode records nothing
        fleet.check_after = fleet.run(WEB_ONLY, fake, "--check", "--diff", limit="host2")
        fleet.pins_after_check = store_pins(fleet.store)
        yield fleet
    try:
        clean_hosts()
    except rigmod.RigError:
        # The rig's host3 Apache (ServerLimit 1) may still finish its graceful restart past reset_hosts' 10 s wait
        # (seen once the sites had stapled); what it serves is checked again by the second attempt.
        clean_hosts()


def store_pins(store):
    result = run_module("key_store", {"name": "host2-www", "store_path": store["path"], "policy": "pinned"},
                        check_mode=True)
    return {pin["role"]: pin for pin in result["pins"]}


def test_check_mode_writes_no_staple_and_records_no_pin(fleet):
    assert fleet.check.rc == 0, failures(fleet.check)
    assert '+    include "%s/live/nginx-stapling.con[f]";' % site_path("host1", "www") in fleet.check.out
    assert "+    SSLUseStapling on" in fleet.check.out
    # the first run served the placeholder's key and the backup: the backup pin was published by it
    assert fleet.pins_first["backup"]["published"] is not None and fleet.pins_first["active"]["published"] is None
    check = fleet.check_after
    assert check.rc == 0 and check.recap["host2"]["changed"] > 0, failures(check)  # the header would change
    assert fleet.pins_after_check == fleet.pins_first, fleet.pins_after_check  # but nothing is recorded


def test_nginx_serves_the_verified_staple_from_the_live_release(fleet, module_runner, responder):
    assert fleet.first.rc == 0, failures(fleet.first)
    assert os.readlink(site_path("host1", "www", "live")).startswith("releases/")
    staple = served_staple(module_runner, responder, "127.0.1.1", "www.host1.test")["staple"]
    assert staple["outcome"] == "verified" and staple["status"] == "good", staple
    assert staple["serial"] == fleet.first_serial
    release = os.path.realpath(site_path("host1", "www", "live"))
    assert os.path.exists(os.path.join(release, "ocsp.der"))  # in the release, beside its certificate
    text = openssl_status("127.0.1.1", "www.host1.test", responder["ca_pem"])
    assert "OCSP Response Status: successful" in text and "Cert Status: good" in text, text
    assert https_get("127.0.1.1", "www.host1.test", "/", responder["ca_pem"])[::2] == (200, "host1 stapled\n")


def test_apache_staples_through_its_own_cache(fleet, module_runner, responder):
    assert fleet.first.rc == 0, failures(fleet.first)
    staple = served_staple(module_runner, responder, "127.0.1.3", "www.host3.test")["staple"]
    assert staple["outcome"] == "verified" and staple["status"] == "good", staple
    assert "Cert Status: good" in openssl_status("127.0.1.3", "www.host3.test", responder["ca_pem"])
    # one SSLStaplingCache at the server level, in the role's own file; the vhost only switches stapling on
    directives = []
    for name in os.listdir(conf_dir("host3")):
        with open(os.path.join(conf_dir("host3"), name)) as handle:
            directives += [(name, line.strip()) for line in handle if line.strip().startswith("SSLStaplingCache")]
    assert directives == [("certfleet_stapling-cache.conf", "SSLStaplingCache shmcb:certfleet-ocsp-stapling(131072)")]
    vhost = open(os.path.join(conf_dir("host3"), "certfleet-host3-www.conf")).read()
    assert "SSLUseStapling on" in vhost and "SSLStaplingFakeTryLater off" in vhost
    assert "SSLStaplingReturnResponderErrors off" in vhost


def test_second_run_changes_nothing_and_asks_no_responder_and_the_served_pins_are_recorded(fleet, responder):
    pins_first = fleet.pins_first
    mark = os.path.getsize(responder["log"])
    second = fleet.run(SITE_PLAYBOOK, fleet.fake, limit="host1,host2")
    assert second.rc == 0, failures(second)
    assert second.recap["host1"]["changed"] == 0, second
    assert ocsp_posts(responder["log"], mark) == []  # host1's staple is fresh: no responder was asked
    # host2's header now pins the issued key (the store's active key): recorded after the reload, backup unchanged
    pins = store_pins(fleet.store)
    assert pins["active"]["published"] is not None and pins["backup"]["published"] == pins_first["backup"]["published"]
    third = fleet.run(WEB_ONLY, fleet.fake, limit="host2")
    assert third.rc == 0 and third.recap["host2"]["changed"] == 0, failures(third)
    assert store_pins(fleet.store) == pins  # idempotent: the first publication counts


def test_a_renewal_goes_live_with_its_own_staple(fleet, module_runner, responder):
    renewal = fleet.run(SITE_PLAYBOOK, fleet.fake, limit="host1", certificate_force=True)
    assert renewal.rc == 0, failures(renewal)
    served = served_staple(module_runner, responder, "127.0.1.1", "www.host1.test")
    assert served["serial"] != fleet.first_serial
    assert served["staple"]["outcome"] == "verified" and served["staple"]["serial"] == served["serial"], served


def test_a_revoked_certificate_is_refused_by_name_and_not_stapled_and_the_others_go_on(
        fleet, module_runner, responder, tmp_path):
    serial = "%x" % served_unverified("127.0.1.1", "www.host1.test").serial_number
    # the release holds another certificate's staple, so the role asks the responder (a fresh staple of this
    # certificate would be kept until half of its validity, which the unit tests cover)
    other = rigmod.ocsp_issue(["other.host1.test"], base=BASE)
    (tmp_path / "other.pem").write_text(other["fullchain_pem"])
    other_staple = module_runner("ocsp_stapling", {"cert_path": str(tmp_path / "other.pem")})
    assert other_staple["status"] == "good", other_staple
    with open(os.path.join(site_path("host1", "www", "live"), "ocsp.der"), "wb") as handle:
        handle.write(base64.b64decode(other_staple["response"]))
    rigmod.ocsp_revoke(serial, base=BASE)
    # host2 shares the nginx play (a play whose hosts all fail ends the playbook); host3 is the Apache play
    run = fleet.run(SITE_PLAYBOOK, fleet.fake)
    assert run.rc != 0 and run.recap["host1"]["failed"] == 1, failures(run)
    assert re.search(r"site host1-www: cert_content \(CN=www\.host1\.test, serial %s\) is REVOKED since \S+ "
                     r"\(keyCompromise\)" % serial, run.out), failures(run)
    for host in ("host2", "host3"):  # the play goes on for the others, through the certificate play
        assert run.recap[host]["failed"] == 0 and run.recap[host]["ok"] > 0, failures(run)
    certificate_play = run.out.split("PLAY [Certificates for every site]")[1]
    assert "ok: [host3]" in certificate_play and "[host1]" not in certificate_play, failures(run)
    assert not os.path.exists(os.path.join(site_path("host1", "www", "live"), "ocsp.der"))
    staple = served_staple(module_runner, responder, "127.0.1.1", "www.host1.test")["staple"]
    assert staple["outcome"] == "not_stapled", staple  # neither the revoked answer nor the other certificate's
    assert "OCSP response: no response sent" in openssl_status("127.0.1.1", "www.host1.test", responder["ca_pem"])


def test_a_renewal_to_a_certificate_without_ocsp_url_goes_live_unstapled(fleet, module_runner, responder):
    issuer = dict(rigmod.ocsp_fakeacme_issuer(base=BASE), ocsp_url=None)  # a CA that ended OCSP
    with FakeAcme(issuing_ca=issuer) as fake:
        renewal = fleet.run(ISSUE_PLAYBOOK, fake, limit="host1", certificate_force=True)
    assert renewal.rc == 0, failures(renewal)
    assert "host1-www goes live without an OCSP staple" in renewal.out, renewal
    served = served_staple(module_runner, responder, "127.0.1.1", "www.host1.test")
    assert served["ocsp_responders"] == [] and served["staple"]["outcome"] == "no_responder", served
    assert not os.path.exists(os.path.join(site_path("host1", "www", "live"), "nginx-stapling.conf"))
    # the web role turns stapling off with a message, and the site works
    web = fleet.run(WEB_ONLY, fleet.fake, limit="host1")
    assert web.rc == 0 and web.recap["host1"]["failed"] == 0, failures(web)
    assert "site host1-www (CN=www.host1.test, serial %s) names no OCSP responder" % served["serial"] in web.out, web
    assert https_get("127.0.1.1", "www.host1.test", "/", responder["ca_pem"])[::2] == (200, "host1 stapled\n")
