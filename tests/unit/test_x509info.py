import datetime

import pytest

from certutil import make_ca, make_leaf, pem
from ansible_collections.certfleet.tls.plugins.module_utils._tls import x509info

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CA = make_ca()


def leaf(days_ago, lifetime, names=("www.example.org",), **kw):
    return make_leaf(CA, list(names), NOW - datetime.timedelta(days=days_ago), lifetime, **kw)


def test_facts_and_chain_split():
    cert = leaf(1, 90, names=("a.example.org", "b.example.org"))
    bundle = pem(cert) + "\n" + pem(CA[1])
    blocks = x509info.split_pem_chain(bundle)
    assert len(blocks) == 2
    facts = x509info.certificate_facts(x509info.load_certificate(blocks[0]))
    assert facts["domains"] == ["a.example.org", "b.example.org"]
    assert facts["issuer"] == "Test Root"
    assert facts["serial"] == "%x" % cert.serial_number


def test_split_without_certificate_fails():
    with pytest.raises(Exception, match="no PEM certificate"):
        x509info.split_pem_chain("nothing here")


def test_choose_chain_by_top_issuer():
    other_root = make_ca("Other Root")
    cert = leaf(1, 90)
    default = pem(cert) + pem(CA[1])
    intermediate_by_other = make_leaf(other_root, ["Test Root"], NOW - datetime.timedelta(days=1), 900)
    alternate = pem(cert) + pem(intermediate_by_other)
    assert x509info.choose_chain([default, alternate], "Other Root") == alternate
    assert x509info.choose_chain([default, alternate], "Test Root") == default
    assert x509info.choose_chain([default, alternate], "Nobody") == default
    assert x509info.choose_chain([default, alternate], None) == default


def _der_octet_string(data):
    length = len(data)
    head = bytes([length]) if length < 128 else bytes([0x82, length >> 8, length & 0xFF])
    return b"\x04" + head + data


def _sct_list(log_ids, millis):
    """RFC 6962 §3.3 SignedCertificateTimestampList, TLS-encoded (what a CA embeds)."""
    entries = b""
    for log_id in log_ids:
        sct = (b"\x00" + log_id + millis.to_bytes(8, "big") + b"\x00\x00" + b"\x04\x03" + b"\x00\x02" + b"\x30\x00")
        entries += len(sct).to_bytes(2, "big") + sct
    return len(entries).to_bytes(2, "big") + entries


def test_ct_scts_and_ocsp_responder_are_reported():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import AuthorityInformationAccessOID, ObjectIdentifier
    from cryptography.hazmat.primitives.asymmetric import ec
    ca_key, ca_cert = CA
    key = ec.generate_private_key(ec.SECP256R1())
    millis = 1764320000000
    sct_ext = x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2"),
                                         _der_octet_string(_sct_list([b"\x11" * 32, b"\x22" * 32], millis)))
    aia = x509.AuthorityInformationAccess([x509.AccessDescription(
        AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier("http://ocsp.example.net/"))])
    cert = (x509.CertificateBuilder().subject_name(ca_cert.subject).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(7).not_valid_before(NOW)
            .not_valid_after(NOW + datetime.timedelta(days=90)).add_extension(aia, critical=False)
            .add_extension(sct_ext, critical=False).sign(ca_key, hashes.SHA256()))
    facts = x509info.certificate_facts(x509info.load_certificate(pem(cert)))
    assert facts["ocsp_responders"] == ["http://ocsp.example.net/"]
    assert len(facts["scts"]) == 2
    assert facts["scts"][0]["timestamp"] == "2025-11-28T08:53:20Z"
    plain = x509info.certificate_facts(leaf(1, 90))
    assert plain["ocsp_responders"] == [] and plain["scts"] == []


def test_report_line_says_when_there_is_nothing_to_staple():
    from ansible_collections.certfleet.tls.plugins.filter.served_summary import served_summary
    line = served_summary({"name": "web1", "server_name": "a.example.org", "serial": "1f", "verified": True,
                           "chain_verified": True, "ocsp_responders": [], "scts": [{}, {}]})
    assert "tls=verified" in line and "ct_scts=2" in line and "ocsp=none (the issuer runs no OCSP responder)" in line
    failed = served_summary({"name": "web1", "verified": False, "error": "expired"})
    assert "FAILED (expired)" in failed
