"""OCSP verification (_tls/ocsp.py), driven by responses built with cryptography's OCSPResponseBuilder.

Each refusal is a response a real responder (or an attacker on the path) could send; each test checks both
that it is refused and that the message says why and names the certificate or signer.
"""

import datetime
import shutil
import subprocess

import pytest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp as x509_ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.certfleet.tls.plugins.module_utils._tls import ocsp
from ansible_collections.certfleet.tls.plugins.module_utils.errors import InputError

UTC = datetime.timezone.utc
NOW = datetime.datetime.now(UTC).replace(microsecond=0)
HOUR = datetime.timedelta(hours=1)
DAY = datetime.timedelta(days=1)
GOOD, REVOKED, UNKNOWN = (x509_ocsp.OCSPCertStatus.GOOD, x509_ocsp.OCSPCertStatus.REVOKED,
                          x509_ocsp.OCSPCertStatus.UNKNOWN)


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(cn="Test OCSP Root", key=None):
    key = key or ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn)).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(NOW - 30 * DAY)
            .not_valid_after(NOW + 3650 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def issue(ca, cn, eku=None, not_after=None, ocsp_url="http://ocsp.test/"):
    """A certificate signed by ca (key, cert); eku: list of ExtendedKeyUsageOIDs, or None for no EKU."""
    ca_key, ca_cert = ca
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca_cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW - DAY).not_valid_after(not_after or NOW + 90 * DAY))
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    if ocsp_url:
        builder = builder.add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
            x509.oid.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url))]), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


ISSUER = make_ca()
LEAF = issue(ISSUER, "www.example.org")[1]
OTHER_LEAF = issue(ISSUER, "other.example.org")[1]
RESPONDER = issue(ISSUER, "Test OCSP Responder", eku=[ExtendedKeyUsageOID.OCSP_SIGNING], ocsp_url=None)


def response(cert=LEAF, issuer=ISSUER[1], signer=ISSUER, status=GOOD, this_update=NOW - HOUR,
             next_update=NOW + DAY, revocation_time=None, reason=None, by=x509_ocsp.OCSPResponderEncoding.HASH,
             include=True):
    """DER of a response about cert, signed by signer = (key, cert) and identified by that cert."""
    signer_key, signer_cert = signer
    builder = (x509_ocsp.OCSPResponseBuilder()
               .add_response(cert=cert, issuer=issuer, algorithm=hashes.SHA1(), cert_status=status,
                             this_update=this_update, next_update=next_update, revocation_time=revocation_time,
                             revocation_reason=reason)
               .responder_id(by, signer_cert))
    if include and signer_cert is not issuer:
        builder = builder.certificates([signer_cert])
    return builder.sign(signer_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


# -- accepted --------------------------------------------------------------------------------------------------
def test_good_signed_by_the_issuer():
    facts = ocsp.verify_response(response(), LEAF, ISSUER[1], NOW)
    assert facts["status"] == "good" and facts["signer"] == "issuer"
    assert facts["revocation_time"] is None and facts["revocation_reason"] is None
    assert facts["this_update"] == (NOW - HOUR).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert facts["next_update"] == (NOW + DAY).strftime("%Y-%m-%dT%H:%M:%SZ")
    # half-way between this_update and next_update: the nginx role's refresh point
    assert facts["refresh_at"] == (NOW - HOUR + (DAY + HOUR) / 2).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("by", [x509_ocsp.OCSPResponderEncoding.HASH, x509_ocsp.OCSPResponderEncoding.NAME])
def test_good_signed_by_a_delegated_responder(by):
    facts = ocsp.verify_response(response(signer=RESPONDER, by=by), LEAF, ISSUER[1], NOW)
    assert facts["status"] == "good"
    assert facts["signer"] == "delegated responder %s" % ocsp.describe(RESPONDER[1])


def test_revoked_with_reason_and_time():
    revoked_at = NOW - 3 * HOUR
    facts = ocsp.verify_response(response(status=REVOKED, revocation_time=revoked_at,
                                          reason=x509.ReasonFlags.key_compromise), LEAF, ISSUER[1], NOW)
    assert facts["status"] == "revoked"
    assert facts["revocation_reason"] == "keyCompromise"
    assert facts["revocation_time"] == revoked_at.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_revoked_without_reason():
    facts = ocsp.verify_response(response(status=REVOKED, revocation_time=NOW - HOUR), LEAF, ISSUER[1], NOW)
    assert facts["status"] == "revoked" and facts["revocation_reason"] is None and facts["revocation_time"]


def test_unknown():
    facts = ocsp.verify_response(response(status=UNKNOWN), LEAF, ISSUER[1], NOW)
    assert facts["status"] == "unknown" and facts["revocation_time"] is None


def test_rsa_issuer_pkcs1_signature():
    rsa_issuer = make_ca("Test RSA Root", key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    leaf = issue(rsa_issuer, "rsa.example.org")[1]
    facts = ocsp.verify_response(response(cert=leaf, issuer=rsa_issuer[1], signer=rsa_issuer), leaf, rsa_issuer[1], NOW)
    assert facts["status"] == "good"


def test_no_next_update_is_accepted_and_has_no_refresh_point():
    facts = ocsp.verify_response(response(next_update=None), LEAF, ISSUER[1], NOW)
    assert facts["next_update"] is None and facts["refresh_at"] is None


def test_clock_skew_within_five_minutes_is_accepted():
    der = response(this_update=NOW + datetime.timedelta(minutes=4), next_update=NOW + DAY)
    assert ocsp.verify_response(der, LEAF, ISSUER[1], NOW)["status"] == "good"
    der = response(this_update=NOW - DAY, next_update=NOW - datetime.timedelta(minutes=4))
    assert ocsp.verify_response(der, LEAF, ISSUER[1], NOW)["status"] == "good"


# -- refused: signer ---------------------------------------------------------------------------------------------
def test_wrong_signer_with_the_issuers_name_is_a_bad_signature():
    # An impostor: the issuer's name, another key (what the rig's wrong_key responder does).
    impostor = make_ca(ISSUER[1].subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
    der = response(signer=impostor, by=x509_ocsp.OCSPResponderEncoding.NAME)
    with pytest.raises(ocsp.OcspInvalid, match=r"^bad signature: the response does not verify with the key of "
                                               r"the issuer \(CN=Test OCSP Root"):
        ocsp.verify_response(der, LEAF, ISSUER[1], NOW)


def test_unrelated_signer_is_refused():
    stranger = make_ca("Somebody Else")
    with pytest.raises(ocsp.OcspInvalid, match="neither the issuer CN=Test OCSP Root.* nor a responder certificate"):
        ocsp.verify_response(response(signer=stranger, include=False), LEAF, ISSUER[1], NOW)
    with pytest.raises(ocsp.OcspInvalid, match="CN=Somebody Else.* which the issuer CN=Test OCSP Root.* did not sign"):
        ocsp.verify_response(response(signer=stranger), LEAF, ISSUER[1], NOW)


def test_delegated_responder_not_included_is_refused():
    with pytest.raises(ocsp.OcspInvalid, match="neither the issuer"):
        ocsp.verify_response(response(signer=RESPONDER, include=False), LEAF, ISSUER[1], NOW)


def test_delegated_responder_without_the_ocsp_signing_eku():
    for eku in (None, [ExtendedKeyUsageOID.SERVER_AUTH]):
        plain = issue(ISSUER, "Not A Responder", eku=eku, ocsp_url=None)
        with pytest.raises(ocsp.OcspInvalid, match=r"CN=Not A Responder.*without the OCSP-signing extended key "
                                                   r"usage \(id-kp-OCSPSigning"):
            ocsp.verify_response(response(signer=plain), LEAF, ISSUER[1], NOW)


def test_delegated_responder_not_signed_by_the_issuer():
    # Same issuer name, other key: only the signature on the responder certificate tells them apart.
    look_alike = make_ca("Test OCSP Root")
    rogue = issue(look_alike, "Rogue Responder", eku=[ExtendedKeyUsageOID.OCSP_SIGNING], ocsp_url=None)
    with pytest.raises(ocsp.OcspInvalid, match=r"delegated responder CN=Rogue Responder.*which the issuer "
                                               r"CN=Test OCSP Root.* did not sign"):
        ocsp.verify_response(response(signer=rogue), LEAF, ISSUER[1], NOW)


def test_expired_delegated_responder():
    old = issue(ISSUER, "Old Responder", eku=[ExtendedKeyUsageOID.OCSP_SIGNING], ocsp_url=None,
                not_after=NOW - HOUR)
    with pytest.raises(ocsp.OcspInvalid, match="CN=Old Responder.* is not valid now"):
        ocsp.verify_response(response(signer=old), LEAF, ISSUER[1], NOW)


def test_tampered_response_is_a_bad_signature():
    der = bytearray(response(status=REVOKED, revocation_time=NOW - HOUR))
    # Flip the last byte of the 20-byte serial area of the tbs: find the leaf's serial and change its last byte.
    serial = LEAF.serial_number.to_bytes((LEAF.serial_number.bit_length() + 8) // 8, "big")
    at = bytes(der).find(serial) + len(serial) - 1
    der[at] ^= 0x01
    with pytest.raises(ocsp.OcspInvalid, match="^bad signature"):
        ocsp.verify_response(bytes(der), LEAF, ISSUER[1], NOW)


# -- refused: certID ---------------------------------------------------------------------------------------------
def test_response_about_another_certificate_is_a_certid_mismatch():
    expected = (r"certID mismatch: the response is not about CN=www.example.org, serial %x .*answers for serial %x"
                % (LEAF.serial_number, OTHER_LEAF.serial_number))
    with pytest.raises(ocsp.OcspInvalid, match=expected):
        ocsp.verify_response(response(cert=OTHER_LEAF), LEAF, ISSUER[1], NOW)


def test_same_serial_other_issuer_key_hash_is_a_certid_mismatch():
    builder = (x509_ocsp.OCSPResponseBuilder()
               .add_response_by_hash(issuer_name_hash=b"\x01" * 20, issuer_key_hash=b"\x02" * 20,
                                     serial_number=LEAF.serial_number, algorithm=hashes.SHA1(), cert_status=GOOD,
                                     this_update=NOW - HOUR, next_update=NOW + DAY, revocation_time=None,
                                     revocation_reason=None)
               .responder_id(x509_ocsp.OCSPResponderEncoding.HASH, ISSUER[1]))
    der = builder.sign(ISSUER[0], hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    with pytest.raises(ocsp.OcspInvalid, match="certID mismatch"):
        ocsp.verify_response(der, LEAF, ISSUER[1], NOW)


# -- refused: times ----------------------------------------------------------------------------------------------
def test_this_update_in_the_future():
    with pytest.raises(ocsp.OcspStale, match=r"this_update .* is in the future"):
        ocsp.verify_response(response(this_update=NOW + HOUR, next_update=NOW + DAY), LEAF, ISSUER[1], NOW)


def test_next_update_in_the_past():
    der = response(this_update=NOW - 2 * DAY, next_update=NOW - DAY)
    with pytest.raises(ocsp.OcspStale, match="stale response: next_update %s is past"
                                             % (NOW - DAY).strftime("%Y-%m-%dT%H:%M:%SZ")):
        ocsp.verify_response(der, LEAF, ISSUER[1], NOW)


# -- refused: not OCSP -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("data", [b"<html><body>502 Bad Gateway</body></html>", b"", b"\x30\x03\x0a\x01",
                                  LEAF.public_bytes(serialization.Encoding.DER)])
def test_garbage_is_not_ocsp_data(data):
    with pytest.raises(ocsp.OcspInvalid, match=r"^the response is not OCSP data \(%d bytes" % len(data)):
        ocsp.verify_response(data, LEAF, ISSUER[1], NOW)


def test_truncated_response_is_not_ocsp_data():
    with pytest.raises(ocsp.OcspInvalid, match="is not OCSP data"):
        ocsp.verify_response(response()[:-10], LEAF, ISSUER[1], NOW)


def test_error_status_is_named():
    der = x509_ocsp.OCSPResponseBuilder.build_unsuccessful(
        x509_ocsp.OCSPResponseStatus.UNAUTHORIZED).public_bytes(serialization.Encoding.DER)
    with pytest.raises(ocsp.OcspInvalid, match=r"is an OCSP error: unauthorized \(RFC 6960 §2.3\)"):
        ocsp.verify_response(der, LEAF, ISSUER[1], NOW)


# -- the request -------------------------------------------------------------------------------------------------
@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is the independent reader")
def test_request_is_read_by_openssl_with_the_leaf_serial_and_no_nonce(tmp_path):
    path = tmp_path / "req.der"
    path.write_bytes(ocsp.build_request(LEAF, ISSUER[1]))
    text = subprocess.run(["openssl", "ocsp", "-reqin", str(path), "-req_text"], check=True,
                          capture_output=True, text=True).stdout
    assert "Hash Algorithm: sha1" in text
    serial = "%X" % LEAF.serial_number
    assert "Serial Number: " + "0" * (len(serial) % 2) + serial in text  # openssl prints whole bytes
    assert "Nonce" not in text  # a staple is cached and served to everyone: no nonce (RFC 5019 §2.1)


def test_issuer_that_did_not_sign_the_certificate_is_an_input_error():
    with pytest.raises(InputError, match=r"cert_path \(CN=www.example.org, serial [0-9a-f]+\) was not issued by "
                                         r"CN=Somebody"):
        ocsp.check_issuer(LEAF, make_ca("Somebody")[1], "cert_path")


def test_certificate_without_ocsp_url_is_not_supported_and_sends_nothing():
    bare = issue(ISSUER, "bare.example.org", ocsp_url=None)[1]
    # responder_url None and no AIA: no request at all (the URL would be unreachable anyway)
    result = ocsp.fetch_status(bare, ISSUER[1], timeout=0.1, what="cert_content")
    assert result["supported"] is False and result["responder_url"] is None and "status" not in result
    assert "no OCSP URL" in result["msg"] and "Let's Encrypt ended OCSP in 2025" in result["msg"]


def test_unreachable_responder_names_the_certificate_and_url():
    with pytest.raises(ocsp.OcspUnreachable, match=r"^cert_path \(CN=www.example.org.*\): OCSP responder "
                                                   r"http://127.0.0.1:9/ is unreachable") as info:
        ocsp.fetch_status(LEAF, ISSUER[1], responder_url="http://127.0.0.1:9/", timeout=2, what="cert_path")
    assert info.value.to_result()["responder_url"] == "http://127.0.0.1:9/"


def test_load_certificates_refuses_non_certificates():
    with pytest.raises(InputError, match="issuer_content holds no certificate"):
        ocsp.load_certificates(b"hello", "issuer_content")
    two = ocsp.load_certificates(LEAF.public_bytes(serialization.Encoding.PEM)
                                 + ISSUER[1].public_bytes(serialization.Encoding.PEM), "cert_path")
    assert [c.serial_number for c in two] == [LEAF.serial_number, ISSUER[1].serial_number]
    assert ocsp.load_certificates(LEAF.public_bytes(serialization.Encoding.DER), "x")[0] == LEAF


# -- the refresh rule of a deployed staple -----------------------------------------------------------------------
@pytest.mark.parametrize("now_offset, expected", [
    (datetime.timedelta(0), False),                 # fresh
    (11 * HOUR, False),                             # before half of [this_update, next_update] = 12 h
    (12 * HOUR, True),                              # half-way
    (30 * HOUR, True),                              # past next_update
])
def test_staple_needs_refresh_past_half_of_its_validity(now_offset, expected):
    der = response(this_update=NOW, next_update=NOW + DAY)
    assert ocsp.staple_needs_refresh(der, NOW + now_offset) is expected


@pytest.mark.parametrize("der", [None, b"", b"not ocsp",
                                 x509_ocsp.OCSPResponseBuilder.build_unsuccessful(
                                     x509_ocsp.OCSPResponseStatus.TRY_LATER).public_bytes(serialization.Encoding.DER)])
def test_staple_needs_refresh_when_missing_or_unreadable(der):
    assert ocsp.staple_needs_refresh(der, NOW) is True


def test_staple_without_next_update_always_needs_refresh():
    assert ocsp.staple_needs_refresh(response(this_update=NOW, next_update=None), NOW) is True
