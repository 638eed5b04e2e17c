"""The ACME core (no Ansible) against the real Pebble of the rig, HTTP-01 answered by the rig's web servers."""

import json
import os
import ssl
import urllib.request

import pytest

from cryptography import x509
from cryptography.x509.oid import NameOID

import rig as rigmod
from rigtools import BASE
from ansible_collections.certfleet.tls.plugins.module_utils._acme import orders, revocation
from ansible_collections.certfleet.tls.plugins.module_utils.errors import ValidationFailed
from ansible_collections.certfleet.tls.plugins.module_utils._acme.network import RetryPolicy
from ansible_collections.certfleet.tls.plugins.module_utils._acme.session import AcmeSession
from ansible_collections.certfleet.tls.plugins.module_utils._tls import keys
from ansible_collections.certfleet.tls.plugins.module_utils._tls.x509info import load_certificate, split_pem_chain

FAST = orders.PollPolicy(first=0.02)


def new_session(info, timeout=60):
    with open(info["account_key"], "rb") as handle:
        account_key = handle.read()
    sess = AcmeSession(info["pebble_directory"], account_key, ca_bundle=info["pebble_ca"],
                       policy=RetryPolicy(timeout=timeout))
    sess.ensure_account(contact="ops@example.org", terms_agreed=True)
    return sess


def serve(challenges):
    """Write challenge files where the rig's web servers serve them (hostN.test -> hosts/hostN/webroot)."""
    for chall in challenges:
        host = chall["identifier"].split(".")[0]
        directory = os.path.join(BASE, "hosts", host, "webroot", ".well-known", "acme-challenge")
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, chall["token"]), "w") as handle:
            handle.write(chall["key_authorization"])
        os.chmod(os.path.join(directory, chall["token"]), 0o644)


def issue_all(sess, names, preferred_chain=None):
    items = [dict(name=n, csr_pem=keys.make_csr(keys.generate_private_key(), [n]).decode()) for n in names]
    created = orders.run_batch(lambda item: orders.create_order(sess, item), items)
    assert not [c for c in created if c.get("failed")], [c.get("msg") for c in created]
    for item in created:
        serve(item["challenges"])
    return orders.run_batch(lambda c: orders.finalize_order(sess, dict(c, csr_pem=c["csr"]), poll=FAST,
                                                            preferred_chain=preferred_chain), created)


def cert_status(serial_hex):
    context = ssl.create_default_context(cafile=os.path.join(BASE, "pebble", "ca.pem"))
    with urllib.request.urlopen("https://127.0.0.1:15000/cert-status-by-serial/%s" % serial_hex,
                                context=context, timeout=5) as response:
        return json.load(response)


def test_batch_issuance_at_the_protocol_minimum(fresh_rig):
    sess = new_session(fresh_rig)
    results = issue_all(sess, ["host1.test", "host2.test", "host3.test"])
    assert all(not r.get("failed") for r in results), results
    for result in results:
        assert result["facts"]["domains"] == [result["name"]]
        assert "Pebble Intermediate" in result["facts"]["issuer"]
    # per certificate: newOrder, authz, challenge, order poll(s), finalize, download; shared: dir, nonce, account
    assert sess.request_count <= 3 + 3 * 8, sess.net.requests_by_method


def test_revoke_with_account_key_then_with_certificate_key(fresh_rig, module_runner):
    sess = new_session(fresh_rig)
    first, second = issue_all(sess, ["host1.test", "host2.test"])
    assert revocation.revoke(sess, first["cert"], "keyCompromise") is True
    status = cert_status(first["facts"]["serial"])
    assert status["Status"] == "Revoked" and status["Reason"] == 1
    assert revocation.revoke(sess, first["cert"], "keyCompromise") is False  # already revoked: no change

    # the module, signed with the certificate's own key (what to do after a key compromise)
    key = keys.generate_private_key()
    csr = keys.make_csr(key, ["host3.test"]).decode()
    created = orders.create_order(sess, dict(name="host3.test", csr_pem=csr))
    serve(created["challenges"])
    issued = orders.finalize_order(sess, dict(created, csr_pem=csr), poll=FAST)
    result = module_runner("acme_revoke", dict(
        acme_directory=fresh_rig["pebble_directory"], acme_ca_bundle=fresh_rig["pebble_ca"],
        certificate_content=issued["cert"], private_key_content=keys.private_key_to_pem(key).decode(),
        reason="superseded"))
    assert result["changed"] is True and result["revoked"] is True, result
    assert "PRIVATE KEY" not in json.dumps(result)
    assert cert_status(issued["facts"]["serial"])["Reason"] == 4


def test_flaky_ca_half_the_nonces_rejected_and_alternate_chain(rig):
    """PEBBLE_WFE_NONCEREJECT=50: the library alone retries badNonce once and fails; we must not."""
    info = rigmod.up(hosts=3, nonce_reject=50, alternate_roots=1, base=BASE)
    try:
        rigmod.reset_hosts(base=BASE)
        sess = new_session(info, timeout=120)
        with open(info["pebble_alternate_roots"][0], "rb") as handle:
            alternate_root = x509.load_pem_x509_certificate(handle.read())
        alternate_cn = alternate_root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        results = issue_all(sess, ["host1.test", "host2.test", "host3.test"], preferred_chain=alternate_cn)
        assert all(not r.get("failed") for r in results), [r.get("msg") for r in results]
        assert sess.request_count > 3 + 3 * 7, "with half the nonces rejected, retries must show"
        for result in results:
            assert result["alternate_chains"] == 1
            top = load_certificate(split_pem_chain(result["chain"])[-1])
            assert top.issuer == alternate_root.subject, "the preferred (alternate) chain was not chosen"
    finally:
        rigmod.up(hosts=3, base=BASE)


def test_failed_validation_reports_the_problem_per_identifier(fresh_rig):
    """The challenge is not served: the CA's RFC 7807 problem comes back with the identifier it concerns."""
    sess = new_session(fresh_rig)
    csr = keys.make_csr(keys.generate_private_key(), ["host2.test"]).decode()
    created = orders.create_order(sess, dict(name="host2.test", csr_pem=csr))
    with pytest.raises(ValidationFailed) as info:  # nothing written to the webroot
        orders.finalize_order(sess, dict(created, csr_pem=csr), poll=FAST)
    subproblems = info.value.details["subproblems"]
    assert [s["identifier"] for s in subproblems] == ["host2.test"]
    assert subproblems[0]["type"].startswith("urn:ietf:params:acme:error:")
    assert "host2.test" in info.value.msg and "404" in info.value.msg
