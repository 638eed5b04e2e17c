# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private keys, CSRs and domain names, on the control node with ``cryptography`` (never openssl)."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID
    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover
    HAS_CRYPTOGRAPHY = False

from ..errors import InputError

KEY_TYPES = ("ec256", "ec384", "rsa2048", "rsa3072", "rsa4096")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")  # fullmatch(): "$" would accept a final newline


def generate_private_key(key_type="ec256"):
    """Return a new private key object of ``key_type`` (one of KEY_TYPES)."""
    if key_type == "ec256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "ec384":
        return ec.generate_private_key(ec.SECP384R1())
    if key_type.startswith("rsa") and key_type in KEY_TYPES:
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[3:]))
    raise InputError("key_type %r is not supported; use one of %s" % (key_type, ", ".join(KEY_TYPES)))


def private_key_to_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_private_key(pem, what="private key", passphrase=None):
    """Load a PEM private key; the error names what was being loaded, never its content."""
    if isinstance(pem, str):
        pem = pem.encode()
    try:
        return serialization.load_pem_private_key(pem, password=passphrase.encode() if passphrase else None)
    except (ValueError, TypeError) as error:
        raise InputError("%s is not a readable PEM private key (%s)" % (what, type(error).__name__))


def spki_sha256(public_key):
    """base64 SHA-256 of the SubjectPublicKeyInfo: the HPKP pin (RFC 7469 §2.4) and DANE 3 1 1 input."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def tlsa_3_1_1(public_key):
    """DANE TLSA "3 1 1" association data (RFC 6698 §2.1: DANE-EE, SubjectPublicKeyInfo, SHA-256), hex.

    It follows the key, not the certificate: a renewal that keeps the key keeps the record valid.
    """
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def normalize_domain(name, challenge_type="http-01"):
    """Lower-case, IDNA-encode and check one DNS name; say which name is wrong and why."""
    if not isinstance(name, str) or not name.strip():
        raise InputError("domain %r is empty" % (name,))
    original = name
    name = name.strip().rstrip(".").lower()
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        pass
    else:
        raise InputError("domain %r is an IP address, not a DNS name: certificates for IP addresses (RFC 8738) "
                         "are not supported" % original)
    wildcard = name.startswith("*.")
    if wildcard and challenge_type == "http-01":
        raise InputError("domain %r is a wildcard: wildcards need dns-01, not http-01 (RFC 8555 §7.1.3)"
                         % original)
    body = name[2:] if wildcard else name
    try:
        body = body.encode("idna").decode("ascii")
    except UnicodeError:
        raise InputError("domain %r is not a valid internationalized name" % original)
    labels = body.split(".")
    if len(labels) < 2 or len(body) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise InputError("domain %r is not a valid DNS name (labels a-z 0-9 -, at least two labels)"
                         % original)
    if labels[-1].isdigit():
        raise InputError("domain %r ends in a numeric label: no top-level domain is all digits (RFC 3696 §2)"
                         % original)
    return ("*." if wildcard else "") + body


def normalize_domains(names, challenge_type="http-01"):
    """Normalize a list of names, rejecting duplicates (after normalization) by name."""
    if not names:
        raise InputError("domains is empty: give at least one DNS name")
    seen = []
    for name in names:
        norm = normalize_domain(name, challenge_type)
        if norm in seen:
            raise InputError("domain %r is listed twice" % name)
        seen.append(norm)
    return seen


def make_csr(key, domains):
    """A CSR for ``domains`` (first one is the CN, all in SAN), signed by ``key``; returns PEM bytes."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domains[0])]) if len(domains[0]) <= 64
        else x509.Name([])
    ).add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in domains]), critical=False)
    csr = builder.sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


def csr_domains(csr_pem, what="CSR"):
    """Load a CSR, check its signature, and return (csr, ordered unique names from SAN and CN)."""
    if isinstance(csr_pem, str):
        csr_pem = csr_pem.encode()
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError:
        raise InputError("%s is not a PEM certificate signing request" % what)
    if not csr.is_signature_valid:
        raise InputError("%s has an invalid signature: it was not signed by the key it carries" % what)
    names = []
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names.extend(n.lower() for n in san.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        pass
    for attr in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        value = attr.value.lower() if isinstance(attr.value, str) else None
        if value and value not in names:
            names.append(value)
    if not names:
        raise InputError("%s names no domain (no subjectAltName DNS entry and no CN)" % what)
    return csr, names


def check_csr_matches(csr_names, domains, what="CSR"):
    """The operator's CSR must name exactly the requested domains (order does not matter)."""
    if domains and sorted(csr_names) != sorted(domains):
        raise InputError("%s names %s but domains asks for %s" % (what, sorted(csr_names), sorted(domains)))
