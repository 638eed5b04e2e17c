# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Facts about certificates and chains (the renewal decision made from them is _acme/decision.py)."""

from __future__ import annotations

import base64
import datetime
import re

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID
    from cryptography.exceptions import InvalidSignature
    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover
    HAS_CRYPTOGRAPHY = False

from ..errors import InputError
from .keys import spki_sha256, tlsa_3_1_1

_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\s*", re.S)


def split_pem_chain(pem):
    """Split a PEM bundle into a list of PEM certificates (str), leaf first, as the CA sent them."""
    if isinstance(pem, str):
        pem = pem.encode()
    blocks = [m.group(0).strip().decode() + "\n" for m in _PEM_CERT.finditer(pem)]
    if not blocks:
        raise InputError("no PEM certificate found in the data")
    return blocks


def load_certificate(pem):
    if isinstance(pem, str):
        pem = pem.encode()
    return x509.load_pem_x509_certificate(pem)


def _cn(name):
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return attrs[0].value if attrs else name.rfc4514_string()


def certificate_facts(cert):
    """The facts an operator and the renewal decision need; JSON-friendly."""
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = sans.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        dns_names = []
    not_before = cert.not_valid_before_utc
    not_after = cert.not_valid_after_utc
    return {
        "ocsp_responders": ocsp_responders(cert),
        "scts": embedded_scts(cert),
        "serial": "%x" % cert.serial_number,
        "subject": _cn(cert.subject),
        "issuer": _cn(cert.issuer),
        "domains": dns_names,
        "not_before": not_before.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "not_after": not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "lifetime_seconds": int((not_after - not_before).total_seconds()),
        "spki_sha256": spki_sha256(cert.public_key()),
        "tlsa_3_1_1": tlsa_3_1_1(cert.public_key()),
        "fingerprint_sha256": cert.fingerprint(hashes.SHA256()).hex(),
    }


def ocsp_responders(cert):
    """OCSP URLs from Authority Information Access. Empty for Let's Encrypt since 2025 (it ended OCSP):
    such a certificate has nothing to staple, and a report should say so rather than show stapling "off"."""
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return []
    return [d.access_location.value for d in aia if d.access_method == AuthorityInformationAccessOID.OCSP]


def embedded_scts(cert):
    """Certificate Transparency SCTs embedded by the CA (RFC 6962 §3.3): log id and time of each."""
    try:
        scts = cert.extensions.get_extension_for_class(x509.PrecertificateSignedCertificateTimestamps).value
    except (x509.ExtensionNotFound, ValueError):
        return []
    return [{"log_id": base64.b64encode(sct.log_id).decode("ascii"),
             "timestamp": sct.timestamp.replace(tzinfo=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
            for sct in scts]


def is_self_signed(cert):
    """Issuer equals subject and the certificate's own key verifies its signature."""
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def choose_chain(fullchains, preferred_issuer):
    """Pick the chain whose topmost certificate's issuer CN equals ``preferred_issuer`` (certbot's rule).

    Falls back to the first (default) chain when none matches.
    """
    if not preferred_issuer:
        return fullchains[0]
    for pem in fullchains:
        top = load_certificate(split_pem_chain(pem)[-1])
        if _cn(top.issuer) == preferred_issuer or _cn(top.subject) == preferred_issuer:
            return pem
    return fullchains[0]
