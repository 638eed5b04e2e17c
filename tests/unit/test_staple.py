"""The served staple judged by _tls/staple.py, with responses built by cryptography's OCSPResponseBuilder.

staple_facts is pure (a staple and a served chain in, facts out); served_staple is driven here with a fake
handshake (``fetch``) so that its decisions (ask or not, which issuer, which error) are checked without a server:
tests/unit/test_staple_handshake.py makes the real handshakes.
"""

import datetime

import pytest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp as x509_ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from ansible_collections.certfleet.tls.plugins.module_utils._tls import staple

UTC = datetime.timezone.utc
NOW = datetime.datetime.now(UTC).replace(microsecond=0)
HOUR, DAY = datetime.timedelta(hours=1), datetime.timedelta(days=1)
ISO = "%Y-%m-%dT%H:%M:%SZ"


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(cn):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn)).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(NOW - 30 * DAY)
            .not_valid_after(NOW + 3650 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def issue(ca, cn, eku=None, ocsp_url="http://ocsp.test/"):
    ca_key, ca_cert = ca
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca_cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW - DAY).not_valid_after(NOW + 90 * DAY)
               .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False))
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    if ocsp_url:
        builder = builder.add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url))]), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


ROOT = make_ca("Staple Test Root")
LEAF_KEY, LEAF = issue(ROOT, "www.example.org")
OTHER = issue(ROOT, "other.example.org")[1]
RESPONDER = issue(ROOT, "Staple Test Responder", eku=[ExtendedKeyUsageOID.OCSP_SIGNING], ocsp_url=None)
IMPOSTOR = make_ca("Staple Test Root")  # the issuer's name, another key


def response(cert=LEAF, signer=ROOT, status=x509_ocsp.OCSPCertStatus.GOOD, this_update=NOW - HOUR,
             next_update=NOW + DAY, revocation_time=None, reason=None, by=x509_ocsp.OCSPResponderEncoding.HASH):
    """DER of a response about ``cert`` signed by ``signer`` (key, cert), which it names ``by`` key hash or name."""
    signer_key, signer_cert = signer
    builder = (x509_ocsp.OCSPResponseBuilder()
               .add_response(cert=cert, issuer=ROOT[1], algorithm=hashes.SHA1(), cert_status=status,
                             this_update=this_update, next_update=next_update, revocation_time=revocation_time,
                             revocation_reason=reason)
               .responder_id(by, signer_cert))
    if signer_cert is RESPONDER[1]:
        builder = builder.certificates([signer_cert])
    return builder.sign(signer_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


SERVED = [LEAF, ROOT[1]]  # leaf first, as a server sends it (fullchain.pem)
SERIAL = "%x" % LEAF.serial_number


# -- staple_facts: the four cases of the issue, and their neighbours ------------------------------------------
def test_a_staple_that_verifies_gives_its_status_and_times():
    facts = staple.staple_facts(response(), SERVED, now=NOW)
    assert facts == {"outcome": "verified", "present": True, "status": "good",
                     "this_update": (NOW - HOUR).strftime(ISO), "next_update": (NOW + DAY).strftime(ISO),
                     "revocation_time": None, "revocation_reason": None, "serial": SERIAL, "error": None}


def test_a_delegated_responders_staple_verifies():
    facts = staple.staple_facts(response(signer=RESPONDER), SERVED, now=NOW)
    assert facts["outcome"] == "verified" and facts["status"] == "good"


def test_a_staple_signed_by_the_wrong_key_is_invalid():
    # the rig's wrong_key responder: the issuer's name, another key
    der = response(signer=IMPOSTOR, by=x509_ocsp.OCSPResponderEncoding.NAME)
    facts = staple.staple_facts(der, SERVED, now=NOW, what="127.0.1.1:443 (SNI www.example.org)")
    assert facts["outcome"] == "invalid" and facts["present"] is True and facts["status"] is None
    assert facts["next_update"] is None  # nothing of an unverified staple is reported as fact
    expected = ("the staple served for 127.0.1.1:443 (SNI www.example.org) (CN=www.example.org, serial %s): "
                "bad signature" % SERIAL)
    assert facts["error"].startswith(expected), facts["error"]


def test_a_stale_staple_says_since_when():
    facts = staple.staple_facts(response(this_update=NOW - 3 * DAY, next_update=NOW - DAY), SERVED, now=NOW)
    assert facts["outcome"] == "stale" and facts["status"] is None and facts["present"] is True
    assert facts["next_update"] == (NOW - DAY).strftime(ISO) and facts["this_update"] == (NOW - 3 * DAY).strftime(ISO)
    assert "stale response: next_update %s is past" % (NOW - DAY).strftime(ISO) in facts["error"]


def test_no_staple_is_not_stapled():
    facts = staple.staple_facts(b"", SERVED, now=NOW)
    assert facts["outcome"] == "not_stapled" and facts["present"] is False and facts["error"] is None
    assert facts["status"] is None and facts["serial"] == SERIAL


def test_a_revoked_staple_verifies_and_says_revoked_with_its_reason():
    facts = staple.staple_facts(response(status=x509_ocsp.OCSPCertStatus.REVOKED, revocation_time=NOW - 2 * HOUR,
                                         reason=x509.ReasonFlags.key_compromise), SERVED, now=NOW)
    assert facts["outcome"] == "verified" and facts["status"] == "revoked"
    assert facts["revocation_reason"] == "keyCompromise" and facts["revocation_time"] == (NOW - 2 * HOUR).strftime(ISO)


def test_another_certificates_staple_is_invalid():
    # what nginx serves when a renewal replaced the certificate but not its ocsp.der
    facts = staple.staple_facts(response(cert=OTHER), SERVED, now=NOW)
    assert facts["outcome"] == "invalid" and "certID mismatch" in facts["error"]


def test_data_that_is_not_ocsp_is_invalid():
    facts = staple.staple_facts(b"<html>busy</html>", SERVED, now=NOW)
    assert facts["outcome"] == "invalid" and "is not OCSP data" in facts["error"]


def test_the_issuer_comes_from_the_served_chain_else_from_the_ca_bundle():
    alone = staple.staple_facts(response(), [LEAF], now=NOW)
    assert alone["outcome"] == "not_checked" and alone["present"] is True
    assert "neither the served chain nor the CA bundle holds the issuer of CN=www.example.org" in alone["error"]
    bundled = staple.staple_facts(response(), [LEAF], extra_issuers=[IMPOSTOR[1], ROOT[1]], now=NOW)
    assert bundled["outcome"] == "verified" and bundled["status"] == "good"
    # a chain whose second certificate did not sign the leaf does not lend it its key
    wrong_chain = staple.staple_facts(response(signer=IMPOSTOR), [LEAF, IMPOSTOR[1]], now=NOW)
    assert wrong_chain["outcome"] == "not_checked"


# -- served_staple: when to ask, and what a failed handshake says ---------------------------------------------
TARGET = {"address": "192.0.2.10", "port": 443, "server_name": "www.example.org"}


class Handshake:
    """Stands in for fetch_staple: records the calls, returns or raises what it is given."""

    def __init__(self, answer):
        self.answer, self.calls = answer, []

    def __call__(self, address, port, server_name, timeout):
        self.calls.append((address, port, server_name, timeout))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_a_certificate_without_ocsp_url_is_not_asked():
    fetch = Handshake((response(), SERVED))
    facts = staple.served_staple({"serial": SERIAL, "ocsp_responders": []}, TARGET, fetch=fetch)
    assert facts["outcome"] == "no_responder" and facts["present"] is None and facts["error"] is None
    assert fetch.calls == []


def test_nothing_served_is_not_asked():
    fetch = Handshake((response(), SERVED))
    facts = staple.served_staple({"verified": False, "error": "refused"}, TARGET, fetch=fetch)
    assert facts["outcome"] == "not_checked" and fetch.calls == []
    assert facts["error"] == "no certificate was served by 192.0.2.10:443 (SNI www.example.org): no staple to check"


def test_one_handshake_with_the_targets_name_and_timeout():
    fetch = Handshake((response(), SERVED))
    facts = staple.served_staple({"serial": SERIAL, "ocsp_responders": ["http://ocsp.test/"]}, TARGET, timeout=3,
                                 now=NOW, fetch=fetch)
    assert fetch.calls == [("192.0.2.10", 443, "www.example.org", 3)]
    assert facts["outcome"] == "verified" and facts["status"] == "good" and facts["error"] is None


def test_a_failed_handshake_is_not_checked_and_says_where():
    fetch = Handshake(ConnectionRefusedError(111, "Connection refused"))
    facts = staple.served_staple({"serial": SERIAL, "ocsp_responders": ["http://ocsp.test/"]}, TARGET, fetch=fetch)
    assert facts["outcome"] == "not_checked" and facts["present"] is None
    assert facts["error"] == ("the TLS connection to 192.0.2.10:443 (SNI www.example.org) that asks for the staple "
                              "failed: [Errno 111] Connection refused")


def test_a_root_signed_leaf_is_verified_with_the_ca_bundle(tmp_path):
    bundle = tmp_path / "roots.pem"
    bundle.write_text(ROOT[1].public_bytes(serialization.Encoding.PEM).decode())
    served = {"serial": SERIAL, "ocsp_responders": ["http://ocsp.test/"]}
    facts = staple.served_staple(served, TARGET, ca_bundle=str(bundle), now=NOW, fetch=Handshake((response(), [LEAF])))
    assert facts["outcome"] == "verified"
    unreadable = staple.served_staple(served, TARGET, ca_bundle=str(tmp_path / "missing.pem"), now=NOW,
                                      fetch=Handshake((response(), [LEAF])))
    assert unreadable["outcome"] == "not_checked" and "missing.pem" in unreadable["error"]


def test_another_backend_in_the_second_handshake_is_said():
    fetch = Handshake((response(cert=OTHER), [OTHER, ROOT[1]]))
    facts = staple.served_staple({"serial": SERIAL, "ocsp_responders": ["http://ocsp.test/"]}, TARGET, now=NOW,
                                 fetch=fetch)
    assert facts["outcome"] == "verified" and facts["serial"] == "%x" % OTHER.serial_number
    assert facts["error"] == "the handshake that asked for the staple served serial %x, not %s" % (
        OTHER.serial_number, SERIAL)


@pytest.mark.parametrize("outcome", staple.OUTCOMES)
def test_every_outcome_is_documented_in_the_module(outcome):
    from ansible_collections.certfleet.tls.plugins.modules import tls_verify
    assert "V(%s)" % outcome in tls_verify.RETURN
