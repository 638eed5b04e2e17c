"""ocsp_stapling against the rig's real OCSP responder: `openssl ocsp` answering for the rig OCSP CA.

Certificates come from the rig OCSP CA (rig.ocsp_issue, or acme_order against the fake ACME server issuing
with that CA) and name http://127.0.0.1:6960/ in AIA. Revocation is a line of the responder's index; the
faulty responders are the front's modes (wrong_key: the CA's name with another key; stale: openssl run under
faketime two days back). OpenSSL's own client (`openssl ocsp -respin`) is the independent check of a staple.
"""

import base64
import contextlib
import json
import os
import subprocess
import sys

import pytest

import rig as rigmod  # tests/rig/rig.py
from fakeacme import FakeAcme
from rigtools import BASE, run_playbook, served_certificate
from cryptography.hazmat.primitives import serialization

from ansible_collections.certfleet.tls.plugins.module_utils._tls import keys

RIG_PY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "rig", "rig.py")


@pytest.fixture(scope="module")
def responder(rig):
    """The responder of the rig (up starts it; ensure_ocsp makes sure), answering in its normal mode."""
    rigmod.ocsp_mode("delegated", base=BASE)
    state = rigmod.ensure_ocsp(base=BASE)
    assert state["alive"] and state["responder_url"] == rigmod.OCSP_RESPONDER_URL == "http://127.0.0.1:6960/"
    return state


@contextlib.contextmanager
def responder_mode(mode):
    """The shared responder in a fault mode for one test, back to normal whatever happens."""
    rigmod.ocsp_mode(mode, base=BASE)
    try:
        yield
    finally:
        rigmod.ocsp_mode("delegated", base=BASE)


def site(tmp_path, name, **options):
    """A leaf of the rig OCSP CA for `name`, its full chain in a file as a deploy would leave it."""
    leaf = rigmod.ocsp_issue([name], base=BASE, **options)
    path = tmp_path / ("%s-fullchain.pem" % name)
    path.write_text(leaf["fullchain_pem"])
    return leaf, path


def openssl_reads_staple(result, leaf, tmp_path):
    """OpenSSL's client, given the rig CA as trust anchor, verifies the staple and prints the status."""
    staple, cert = tmp_path / "staple.der", tmp_path / "cert.pem"
    staple.write_bytes(base64.b64decode(result["response"]))
    cert.write_text(leaf["cert_pem"])
    proc = subprocess.run(["openssl", "ocsp", "-respin", str(staple), "-issuer", leaf["ca_pem"], "-cert", str(cert),
                           "-CAfile", leaf["ca_pem"]], capture_output=True, text=True, check=False)
    return proc.stdout + proc.stderr


@pytest.mark.parametrize("mode, signer", [("delegated", "delegated responder CN=certfleet rig OCSP responder"),
                                          ("ca", "issuer")])
def test_good_staple_from_the_real_responder(module_runner, responder, tmp_path, mode, signer):
    leaf, path = site(tmp_path, "ocsp-good-%s.test" % mode)
    with responder_mode(mode):
        result = module_runner("ocsp_stapling", dict(cert_path=str(path)))
    assert not result.get("failed"), result
    assert result["supported"] is True and result["status"] == "good" and result["serial"] == leaf["serial"]
    assert result["responder_url"] == "http://127.0.0.1:6960/" and result["signer"].startswith(signer)
    assert result["this_update"] < result["refresh_at"] < result["next_update"]
    checked = openssl_reads_staple(result, leaf, tmp_path)
    assert "Response verify OK" in checked and ": good" in checked, checked


def test_revoked_after_ocsp_revoke_fails_naming_the_certificate(module_runner, responder, tmp_path):
    leaf, path = site(tmp_path, "ocsp-revoked.test")
    before = module_runner("ocsp_stapling", dict(cert_path=str(path)))
    assert before["status"] == "good" and not before.get("failed")

    revoked = rigmod.ocsp_revoke(leaf["serial"], base=BASE)
    result = module_runner("ocsp_stapling", dict(cert_path=str(path)))
    assert result["failed"] is True and result["status"] == "revoked"
    assert result["revocation_time"] == revoked["revoked_at"] and result["revocation_reason"] == "keyCompromise"
    assert result["msg"].startswith("cert_path %s (CN=ocsp-revoked.test, serial %s) is REVOKED since %s "
                                    "(keyCompromise)" % (path, leaf["serial"], revoked["revoked_at"]))
    checked = openssl_reads_staple(result, leaf, tmp_path)
    assert "Response verify OK" in checked and ": revoked" in checked, checked


def test_revoke_from_the_command_line_with_a_reason(module_runner, responder, tmp_path):
    leaf, path = site(tmp_path, "ocsp-superseded.test")
    subprocess.run([sys.executable, RIG_PY, "--base", BASE, "ocsp-revoke", leaf["serial"], "--reason", "superseded"],
                   check=True, capture_output=True, text=True)
    result = module_runner("ocsp_stapling", dict(cert_path=str(path), fail_on_bad_status=False))
    assert not result.get("failed") and result["status"] == "revoked"
    assert result["revocation_reason"] == "superseded"


def test_wrong_key_responder_is_refused(module_runner, responder, tmp_path):
    _leaf, path = site(tmp_path, "ocsp-wrong-key.test")
    with responder_mode("wrong_key"):
        result = module_runner("ocsp_stapling", dict(cert_path=str(path)))
    assert result["failed"] is True and "response" not in result
    assert "bad signature: the response does not verify with the key of the issuer (CN=certfleet rig OCSP CA" \
        in result["msg"]
    assert result["msg"].startswith("cert_path %s (CN=ocsp-wrong-key.test" % path)


def test_stale_response_is_refused(module_runner, responder, tmp_path):
    _leaf, path = site(tmp_path, "ocsp-stale.test")
    with responder_mode("stale"):
        result = module_runner("ocsp_stapling", dict(cert_path=str(path)))
    assert result["failed"] is True and "response" not in result
    assert "stale response: next_update" in result["msg"] and "is past" in result["msg"]


def test_certificate_without_ocsp_url_is_not_supported(module_runner, responder, tmp_path):
    leaf, path = site(tmp_path, "ocsp-none.test", ocsp_url=False)
    log = responder["log"]
    size = os.path.getsize(log)
    result = module_runner("ocsp_stapling", dict(cert_path=str(path)))
    assert not result.get("failed") and result["supported"] is False and result["responder_url"] is None
    assert result["serial"] == leaf["serial"] and "status" not in result
    assert os.path.getsize(log) == size  # nothing was asked of the responder


def test_acme_order_from_the_fake_ca_issuing_with_the_rig_ca(module_runner, responder):
    """acme_order (RFC 8555, the fake ACME server issuing with the rig OCSP CA), then a good staple."""
    account = keys.private_key_to_pem(keys.generate_private_key()).decode()
    csr = keys.make_csr(keys.generate_private_key(), ["ocsp-acme.test"]).decode()
    with FakeAcme(issuing_ca=rigmod.ocsp_fakeacme_issuer(base=BASE)) as fake:
        common = dict(acme_directory=fake.directory_url, account_key_content=account, acme_terms_agreed=True,
                      acme_timeout=20, csr_content=csr)
        ordered = module_runner("acme_order", common)
        assert not ordered.get("failed"), ordered
        issued = module_runner("acme_order", dict(common, order_url=ordered["order_url"],
                                                  challenges=ordered["challenges"],
                                                  account_uri=ordered["account_uri"]))
        assert not issued.get("failed"), issued
    result = module_runner("ocsp_stapling", dict(cert_content=issued["fullchain"]))
    assert not result.get("failed"), result
    assert result["status"] == "good" and result["responder_url"] == "http://127.0.0.1:6960/"
    assert result["certificate"].startswith("cert_content (CN=ocsp-acme.test")


def test_certificate_role_deploys_a_certificate_with_the_rig_ocsp_url(module_runner, responder, fresh_rig):
    """The recipe for the web roles' tests: the issue playbook against the fake ACME server issuing with the rig
    OCSP CA puts a certificate with the responder's URL on a host; its served certificate staples as good."""
    with FakeAcme(issuing_ca=rigmod.ocsp_fakeacme_issuer(base=BASE)) as fake:
        run = run_playbook("certfleet.tls.issue", "-e", json.dumps({
            "certificate_acme_directory": fake.directory_url, "certificate_verify_ca_bundle": responder["ca_pem"]}),
            limit="host1")
    assert run.rc == 0 and run.recap["host1"]["failed"] == 0, run
    served = served_certificate("127.0.1.1", "host1.test", responder["ca_pem"])
    with open(responder["ca_pem"]) as handle:
        chain = handle.read()
    result = module_runner("ocsp_stapling", dict(
        cert_content=served.public_bytes(serialization.Encoding.PEM).decode() + chain))
    assert not result.get("failed"), result
    assert result["status"] == "good" and result["responder_url"] == "http://127.0.0.1:6960/"
    assert result["certificate"].startswith("cert_content (CN=host1.test")
