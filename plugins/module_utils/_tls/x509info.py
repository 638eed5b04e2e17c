# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Facts about certificates and chains, and the renewal decision made from them."""

from __future__ import annotations

import base64
import datetime
import re

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
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


def renewal_due(cert, domains, now=None, renew_at_fraction=1.0 / 3, renew_before_days=None):
    """Decide renewal from the deployed certificate alone (nothing kept on the control node).

    Due when the names differ, or when the remaining lifetime falls below ``renew_at_fraction`` of the
    whole lifetime (Let's Encrypt renews 90-day certificates with 30 days left; the fraction keeps
    working as lifetimes shrink toward 47 days), or below ``renew_before_days`` when that is set.
    Returns (due: bool, reason: str, remaining_seconds: int).
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if cert is None:
        return True, "no certificate deployed", 0
    facts = certificate_facts(cert)
    remaining = int((cert.not_valid_after_utc - now).total_seconds())
    if sorted(n.lower() for n in facts["domains"]) != sorted(domains):
        return True, "deployed certificate names %s, wanted %s" % (facts["domains"], domains), remaining
    if is_self_signed(cert):
        return True, "deployed certificate is self-signed (a placeholder, not from a CA)", remaining
    if remaining <= 0:
        return True, "deployed certificate expired at %s" % facts["not_after"], remaining
    if renew_before_days is not None:
        if remaining < renew_before_days * 86400:
            return True, "%.1f days left, renew_before_days=%s" % (remaining / 86400.0, renew_before_days), remaining
    elif remaining < facts["lifetime_seconds"] * renew_at_fraction:
        return True, "%.1f days left of %.1f, below renew_at_fraction=%.2f" % (
            remaining / 86400.0, facts["lifetime_seconds"] / 86400.0, renew_at_fraction), remaining
    return False, "valid until %s (%.1f days left)" % (facts["not_after"], remaining / 86400.0), remaining


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


def der_to_pem(der):
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM).decode()
