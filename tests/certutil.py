"""Test certificates made with cryptography: a CA and leaves with chosen lifetimes and names."""

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

UTC = datetime.timezone.utc


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(cn="Test Root"):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn)).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_leaf(ca, names, not_before, lifetime_days, key=None, self_signed=False):
    ca_key, ca_cert = ca
    key = key or ec.generate_private_key(ec.SECP256R1())
    subject = _name(names[0])
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(subject if self_signed else ca_cert.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(not_before)
               .not_valid_after(not_before + datetime.timedelta(days=lifetime_days))
               .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False))
    return builder.sign(key if self_signed else ca_key, hashes.SHA256())


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()
