"""The staple nginx serves, read in the handshake by tls_verify (check_staple), on the rig.

host1's nginx gets one conf.d file with sites on 127.0.1.1:443, each a certificate of the rig OCSP CA
(http://127.0.0.1:6960/ in AIA, answered by `openssl ocsp`): one stapling a good response, one stapling the
revoked response of a revoked certificate, one without stapling, and one whose certificate names no responder;
and host1.test itself, stapling a good response (conf.d comes before the rig's own host1.test server, so it
wins), for the report playbook, which probes the inventory's names. The staples are fetched and verified by the
ocsp_stapling module, then served with `ssl_stapling_file` as the nginx role will do. OpenSSL's own client
(`openssl s_client -status`) is the independent reader of the staple. The file is removed and nginx reloaded
again whatever happens.
"""

import base64
import json
import os
import subprocess

import pytest
import yaml

import rig as rigmod  # tests/rig/rig.py
from rigtools import BASE, run_playbook

from ansible_collections.certfleet.tls.plugins.plugin_utils import report

ADDRESS = "127.0.1.1"
CONF = os.path.join(BASE, "hosts", "host1", "nginx", "conf.d", "certfleet-staple-test.conf")
SITES = ("good", "revoked", "plain", "nourl", "report")
NAMES = {"report": "host1.test"}


def host1_commands():
    """host1's config test and reload commands, as the inventory gives them to the roles."""
    with open(os.path.join(BASE, "inventory.yml")) as handle:
        inventory = yaml.safe_load(handle)
    host1 = inventory["all"]["children"]["webservers"]["hosts"]["host1"]
    return host1["certificate_test_command"], host1["certificate_reload_command"]


def nginx(command, what):
    proc = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, "%s failed (rc=%s): %s" % (what, proc.returncode, proc.stderr)


def server_block(name, directory, staple_file=None):
    stapling = ("    ssl_stapling on;\n    ssl_stapling_file %s;\n" % staple_file) if staple_file else ""
    return ("server {\n    listen %s:443 ssl;\n    server_name %s;\n    ssl_certificate %s/%s.pem;\n"
            "    ssl_certificate_key %s/%s.key;\n%s    location / { return 200 \"%s\\n\"; }\n}\n"
            % (ADDRESS, name, directory, name, directory, name, stapling, name))


@pytest.fixture
def staple_sites(responder, module_runner, tmp_path):
    """The four sites served by host1's nginx; yields {site: (name, leaf, fetched staple or None)}."""
    sites = {}
    blocks = []
    for site in SITES:
        name = NAMES.get(site, "staple-%s.host1.test" % site)
        leaf = rigmod.ocsp_issue([name], ocsp_url=(site != "nourl"), base=BASE)
        (tmp_path / ("%s.pem" % name)).write_text(leaf["fullchain_pem"])
        key = tmp_path / ("%s.key" % name)
        key.write_text(leaf["key_pem"])
        key.chmod(0o600)
        fetched, staple_file = None, None
        if site in ("good", "revoked", "report"):
            if site == "revoked":
                rigmod.ocsp_revoke(leaf["serial"], base=BASE)
            fetched = module_runner("ocsp_stapling", dict(cert_path=str(tmp_path / ("%s.pem" % name)),
                                                          fail_on_bad_status=False))
            assert not fetched.get("failed") and fetched["status"] == ("revoked" if site == "revoked" else "good"), \
                fetched
            staple_file = tmp_path / ("%s.der" % name)
            staple_file.write_bytes(base64.b64decode(fetched["response"]))
        blocks.append(server_block(name, tmp_path, staple_file))
        sites[site] = (name, leaf, fetched)
    test_command, reload_command = host1_commands()
    try:
        with open(CONF, "w") as handle:
            handle.write("# certfleet.tls tests/integration/test_staple_served.py (removed at the end of the test)\n")
            handle.write("\n".join(blocks))
        nginx(test_command, "nginx -t with %s" % CONF)
        nginx(reload_command, "nginx reload")
        yield sites
    finally:
        if os.path.exists(CONF):
            os.unlink(CONF)
        nginx(reload_command, "nginx reload after removing %s" % CONF)


def openssl_status(name, ca_pem):
    """The independent reader: OpenSSL's client asks for the staple and verifies it with the rig CA."""
    proc = subprocess.run(["openssl", "s_client", "-connect", "%s:443" % ADDRESS, "-servername", name, "-status",
                           "-CAfile", ca_pem], input="", capture_output=True, text=True, timeout=30, check=False)
    return proc.stdout


def test_tls_verify_reads_the_staple_nginx_serves(staple_sites, module_runner, responder):
    targets = [{"name": site, "address": ADDRESS, "server_name": name, "expect_serial": leaf["serial"]}
               for site, (name, leaf, _fetched) in staple_sites.items()]
    # expect_serial and wait: the reload is asynchronous, the new server blocks serve once it took effect
    result = module_runner("tls_verify", dict(targets=targets, ca_bundle=responder["ca_pem"], wait=10))
    assert not result.get("failed"), result
    served = {entry["name"]: entry for entry in result["results"]}

    good, fetched = served["good"]["staple"], staple_sites["good"][2]
    assert good["outcome"] == "verified" and good["present"] is True and good["status"] == "good", good
    assert good["next_update"] == fetched["next_update"] and good["this_update"] == fetched["this_update"]
    assert good["serial"] == staple_sites["good"][1]["serial"] and good["error"] is None

    revoked, fetched_revoked = served["revoked"]["staple"], staple_sites["revoked"][2]
    assert revoked["outcome"] == "verified" and revoked["status"] == "revoked", revoked
    assert revoked["revocation_reason"] == "keyCompromise"
    assert revoked["revocation_time"] == fetched_revoked["revocation_time"]
    assert served["revoked"]["verified"] is True  # the certificate verifies; its staple says it is revoked

    plain = served["plain"]["staple"]
    assert plain["outcome"] == "not_stapled" and plain["present"] is False and plain["status"] is None, plain
    nourl = served["nourl"]["staple"]
    assert nourl["outcome"] == "no_responder" and nourl["present"] is None and served["nourl"]["ocsp_responders"] == []

    # the report of these results: status and next_update of the served staple
    document = report.fleet_report(result["results"], targets, {})
    entries = {entry["host"]: entry for entry in document["certificates"]}
    assert entries["good"]["ocsp_status"] == "good" and entries["good"]["ocsp_next_update"] == fetched["next_update"]
    assert entries["revoked"]["ocsp_status"] == "revoked" and entries["plain"]["ocsp_status"] == "not_stapled"
    assert entries["nourl"]["ocsp_status"] == "no_responder"

    # OpenSSL's client reads the same staples from the same server
    good_text = openssl_status(staple_sites["good"][0], responder["ca_pem"])
    assert "OCSP Response Status: successful" in good_text and "Cert Status: good" in good_text, good_text
    assert "Cert Status: revoked" in openssl_status(staple_sites["revoked"][0], responder["ca_pem"])
    assert "OCSP response: no response sent" in openssl_status(staple_sites["plain"][0], responder["ca_pem"])


def test_the_report_playbook_shows_the_served_staple(staple_sites, module_runner, responder, tmp_path):
    name, leaf, fetched = staple_sites["report"]
    waited = module_runner("tls_verify", dict(targets=[{"address": ADDRESS, "server_name": name,
                                                        "expect_serial": leaf["serial"]}],
                                              ca_bundle=responder["ca_pem"], wait=10, check_staple=False))
    assert not waited.get("failed"), waited  # the reload took effect: host1.test is the rig OCSP CA's now
    report_json = tmp_path / "report.json"
    run = run_playbook("certfleet.tls.report", "-e", json.dumps({
        "report_json_path": str(report_json), "certificate_verify_ca_bundle": responder["ca_pem"]}), limit="host1")
    assert run.rc == 0, run
    assert ("host1 host1.test serial=%s " % leaf["serial"]) in run.out and " tls=verified " in run.out, run.out
    assert "ocsp=http://127.0.0.1:6960/ staple=good next_update=%s" % fetched["next_update"] in run.out, run.out
    entry = json.loads(report_json.read_text())["certificates"][0]
    assert entry["host"] == "host1" and entry["serial"] == leaf["serial"]
    assert entry["ocsp_status"] == "good" and entry["ocsp_next_update"] == fetched["next_update"], entry
