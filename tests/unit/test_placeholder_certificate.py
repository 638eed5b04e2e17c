"""placeholder_certificate as a real process: a self-signed pair that matches, that the certificate role's
decision calls self-signed (so due), and refusals that name the input."""

import datetime
import shutil
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ansible_collections.certfleet.tls.plugins.module_utils._acme import decision
from ansible_collections.certfleet.tls.plugins.module_utils._tls import x509info

SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_pair_matches_names_and_is_self_signed(module_runner):
    result = module_runner("placeholder_certificate", dict(domains=["WWW.Example.org", "example.org"]))
    assert not result.get("failed"), result
    assert result["changed"] is False
    cert = x509.load_pem_x509_certificate(result["certificate"].encode())
    key = serialization.load_pem_private_key(result["private_key"].encode(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert key.public_key().public_bytes(*SPKI) == cert.public_key().public_bytes(*SPKI)
    assert result["domains"] == ["www.example.org", "example.org"]
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["www.example.org", "example.org"]
    assert cert.subject.rfc4514_string() == "CN=www.example.org"
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert x509info.is_self_signed(cert)
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime == datetime.timedelta(days=30, hours=1)
    assert result["not_after"] == cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_certificate_role_replaces_it(module_runner):
    """The decision the certificate role takes on a placeholder for the same names: due, code self_signed."""
    result = module_runner("placeholder_certificate", dict(domains=["www.example.org", "example.org"]))
    cert = x509.load_pem_x509_certificate(result["certificate"].encode())
    verdict = decision.decide(cert, ["www.example.org", "example.org"])
    assert verdict.due and verdict.code == decision.SELF_SIGNED, verdict


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is the independent reference")
def test_openssl_agrees_that_key_and_certificate_match(module_runner, tmp_path):
    result = module_runner("placeholder_certificate", dict(domains=["www.example.org"], key_type="rsa2048",
                                                           valid_days=2))
    (tmp_path / "cert.pem").write_text(result["certificate"])
    (tmp_path / "key.pem").write_text(result["private_key"])
    key = serialization.load_pem_private_key(result["private_key"].encode(), None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048

    from_cert = subprocess.run(["openssl", "x509", "-in", str(tmp_path / "cert.pem"), "-noout", "-pubkey"],
                               check=True, capture_output=True).stdout
    from_key = subprocess.run(["openssl", "pkey", "-in", str(tmp_path / "key.pem"), "-pubout"],
                              check=True, capture_output=True).stdout
    assert from_cert == from_key and b"PUBLIC KEY" in from_key
    # openssl reads the validity that the module reports: 2 days (plus the hour of clock skew before now).
    dates = subprocess.run(["openssl", "x509", "-in", str(tmp_path / "cert.pem"), "-noout", "-enddate"],
                           check=True, capture_output=True, text=True).stdout
    not_after = datetime.datetime.strptime(dates.strip().split("=", 1)[1], "%b %d %H:%M:%S %Y %Z")
    assert not_after.strftime("%Y-%m-%dT%H:%M:%SZ") == result["not_after"]


def test_wildcards_are_accepted_and_bad_names_refused_by_name(module_runner):
    ok = module_runner("placeholder_certificate", dict(domains=["*.example.org"]))
    assert ok["domains"] == ["*.example.org"], ok
    bad = module_runner("placeholder_certificate", dict(domains=["www.example.org", "not a name"]))
    assert bad["failed"] and "'not a name'" in bad["msg"], bad
    assert "certificate" not in bad and "private_key" not in bad


def test_valid_days_below_one_is_refused(module_runner):
    result = module_runner("placeholder_certificate", dict(domains=["www.example.org"], valid_days=0))
    assert result["failed"] and "valid_days is 0" in result["msg"], result


def test_check_mode_returns_a_pair_too(module_runner):
    result = module_runner("placeholder_certificate", dict(domains=["www.example.org"]), check_mode=True)
    assert result["changed"] is False and "BEGIN CERTIFICATE" in result["certificate"], result
