# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""OCSP (RFC 6960) for stapling, on the control node: build the request, POST it, verify the response.

Plain Python over ``cryptography`` and the standard library, no Ansible import. The web roles staple only
what ``fetch_status`` verified: signed by the issuer or by a delegated responder the issuer signed for OCSP
(RFC 6960 §4.2.2.2), about this certificate (the certID), and current (this_update not in the future,
next_update not past). Every error names the certificate and the responder.

``staple_needs_refresh`` is the refresh rule of a staple already deployed: past half of its validity.
"""

from __future__ import annotations

import base64
import datetime
import re
import http.client
import socket

from urllib.parse import urlsplit

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
    from cryptography.x509 import ocsp
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, SignatureAlgorithmOID
    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover
    HAS_CRYPTOGRAPHY = False

from ..errors import CertfleetError, InputError
from .x509info import ocsp_responders

DEFAULT_TIMEOUT = 10.0
# OpenSSL's OCSP_check_validity() allows the same 5 minutes either way (`openssl ocsp -validity_period 300`):
# the responder's clock and ours are never exactly equal.
CLOCK_SKEW = datetime.timedelta(minutes=5)
MAX_RESPONSE_BYTES = 1024 * 1024  # real responses are a few kB; more is not an OCSP response
OCSP_REQUEST_TYPE = "application/ocsp-request"  # RFC 6960 Appendix A.1
OCSP_RESPONSE_TYPE = "application/ocsp-response"

_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


class OcspError(CertfleetError):
    """A staple cannot be had: the responder, its answer or its signature is wrong. ``details`` are returned."""


class OcspUnreachable(OcspError):
    """The responder did not answer (connection, timeout) or answered with an HTTP error."""


class OcspInvalid(OcspError):
    """The answer is not a usable OCSP response: not OCSP data, an error status, a bad signer or signature, or
    a certID that is not the certificate's."""


class OcspStale(OcspError):
    """The response is signed and about the certificate, but its times are wrong: this_update in the future or
    next_update past."""


def _time(value):
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def _now(now):
    return now if now is not None else datetime.datetime.now(datetime.timezone.utc)


def describe(cert):
    """'CN=www.example.org, serial 0a1b2c': how errors and results name a certificate (never its content)."""
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    name = "CN=%s" % names[0].value if names else (cert.subject.rfc4514_string() or "(empty subject)")
    return "%s, serial %x" % (name, cert.serial_number)


def load_certificates(data, what):
    """Certificates of PEM (one or more blocks, in order) or DER data; InputError naming ``what`` otherwise."""
    if isinstance(data, str):
        data = data.encode()
    blocks = _PEM_CERT.findall(data or b"")
    try:
        if blocks:
            return [x509.load_pem_x509_certificate(block) for block in blocks]
        if data and data[:1] == b"\x30":
            return [x509.load_der_x509_certificate(data)]
    except ValueError as error:
        raise InputError("%s holds a certificate that cannot be parsed: %s" % (what, error))
    raise InputError("%s holds no certificate (PEM or DER expected)" % what)


def check_issuer(cert, issuer, what="certificate"):
    """InputError unless ``issuer`` signed ``cert``: the request names the issuer's key (RFC 6960 §4.1.1), so a
    wrong issuer would only ever get 'unknown' or a certID that is not the certificate's."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        raise InputError("%s (%s) was not issued by %s: give its own issuer, the first certificate of its chain"
                         % (what, describe(cert), describe(issuer)))


def build_request(cert, issuer):
    """DER of an OCSP request for ``cert`` without a nonce: a staple is served to every client, so it must be
    cacheable (RFC 5019 §2.1), and SHA-1 names the certID as every responder expects (RFC 5019 §2.1.1)."""
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())  # nosec - certID, not a signature
    return builder.build().public_bytes(serialization.Encoding.DER)


def post_request(url, request_der, timeout=DEFAULT_TIMEOUT):
    """POST the request (RFC 6960 Appendix A.1) and return the body. OcspUnreachable on any transport error."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise InputError("responder_url %r is not an http:// or https:// URL" % url)
    parts = urlsplit(url)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    connection = connection_class(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request("POST", path, body=request_der,
                           headers={"Content-Type": OCSP_REQUEST_TYPE, "Accept": OCSP_RESPONSE_TYPE,
                                    "User-Agent": "certfleet.tls ocsp_stapling"})
        answer = connection.getresponse()
        body = answer.read(MAX_RESPONSE_BYTES + 1)
        if answer.status >= 400:
            raise OcspUnreachable("OCSP responder %s answered HTTP %d %s" % (url, answer.status, answer.reason),
                                  responder_url=url)
    except (socket.timeout, OSError, http.client.HTTPException) as error:
        raise OcspUnreachable("OCSP responder %s is unreachable: %s (timeout %ss)" % (url, error, timeout),
                              responder_url=url)
    finally:
        connection.close()
    if len(body) > MAX_RESPONSE_BYTES:
        raise OcspInvalid("OCSP responder %s sent more than %d bytes: that is not an OCSP response"
                          % (url, MAX_RESPONSE_BYTES), responder_url=url)
    return body


def _load_response(response_der, source):
    try:
        response = ocsp.load_der_ocsp_response(response_der)
    except ValueError as error:
        start = bytes(response_der[:40])
        raise OcspInvalid("%s is not OCSP data (%d bytes, starting %r): %s"
                          % (source, len(response_der), start, error))
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        # RFC 6960 §2.3: malformedRequest, internalError, tryLater, sigRequired, unauthorized
        raise OcspInvalid("%s is an OCSP error: %s (RFC 6960 §2.3), no certificate status"
                          % (source, response.response_status.name.lower()))
    return response


def _key_sha1(public_key):
    """SHA-1 of the subjectPublicKey bits: the ResponderID byKey (RFC 6960 §4.2.1)."""
    return x509.SubjectKeyIdentifier.from_public_key(public_key).digest


def _names_responder(response, cert):
    if response.responder_name is not None:
        return response.responder_name == cert.subject
    return response.responder_key_hash == _key_sha1(cert.public_key())


def _responder_id(response):
    if response.responder_name is not None:
        return response.responder_name.rfc4514_string()
    return "key hash %s" % response.responder_key_hash.hex()


def _check_delegate(responder, issuer, now):
    """RFC 6960 §4.2.2.2: a delegated responder is signed by the issuer itself and carries id-kp-OCSPSigning."""
    try:
        responder.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        raise OcspInvalid("the response is signed by the delegated responder %s, which the issuer %s did not sign "
                          "(RFC 6960 §4.2.2.2)" % (describe(responder), describe(issuer)))
    try:
        usages = responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usages = []
    if ExtendedKeyUsageOID.OCSP_SIGNING not in usages:
        raise OcspInvalid("the response is signed by %s, a certificate of the issuer without the OCSP-signing "
                          "extended key usage (id-kp-OCSPSigning, RFC 6960 §4.2.2.2): it may not sign OCSP "
                          "responses" % describe(responder))
    if not responder.not_valid_before_utc - CLOCK_SKEW <= now <= responder.not_valid_after_utc + CLOCK_SKEW:
        raise OcspInvalid("the delegated responder certificate %s is not valid now (%s to %s)"
                          % (describe(responder), _time(responder.not_valid_before_utc),
                             _time(responder.not_valid_after_utc)))


def find_signer(response, issuer, now=None):
    """(certificate whose key must verify the response, 'issuer' or 'delegated responder <name>')."""
    if _names_responder(response, issuer):
        return issuer, "issuer"
    for candidate in response.certificates:
        if _names_responder(response, candidate):
            _check_delegate(candidate, issuer, _now(now))
            return candidate, "delegated responder %s" % describe(candidate)
    raise OcspInvalid("the response is signed by %s, which is neither the issuer %s nor a responder certificate "
                      "included in the response (RFC 6960 §4.2.2.2)" % (_responder_id(response), describe(issuer)))


def verify_signature(response, signer, signer_label):
    """The response's signature over tbsResponseData, with the signer's key (RSA, ECDSA, EdDSA)."""
    key = signer.public_key()
    data, signature = response.tbs_response_bytes, response.signature
    try:
        if isinstance(key, rsa.RSAPublicKey):
            algorithm = response.signature_hash_algorithm
            if response.signature_algorithm_oid == SignatureAlgorithmOID.RSASSA_PSS:
                pad = padding.PSS(mgf=padding.MGF1(algorithm), salt_length=padding.PSS.AUTO)
            else:
                pad = padding.PKCS1v15()
            key.verify(signature, data, pad, algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(response.signature_hash_algorithm))
        elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            key.verify(signature, data)
        else:
            raise OcspInvalid("the %s has a %s key, which cannot verify OCSP signatures"
                              % (signer_label, type(key).__name__))
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise OcspInvalid("bad signature: the response does not verify with the key of the %s (%s)%s"
                          % (signer_label, describe(signer), ": %s" % error if str(error) else ""))


def find_single(response, cert, issuer):
    """The SingleResponse whose certID (hash of the issuer's name and key, and serial) is this certificate's."""
    seen = []
    for single in response.responses:
        seen.append("%x" % single.serial_number)
        if single.serial_number != cert.serial_number:
            continue
        try:
            expected = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, single.hash_algorithm).build()
        except (ValueError, TypeError, UnsupportedAlgorithm):
            continue  # a certID hashed with an algorithm we cannot compute is not ours
        if (single.issuer_name_hash, single.issuer_key_hash) == (expected.issuer_name_hash, expected.issuer_key_hash):
            return single
    raise OcspInvalid("certID mismatch: the response is not about %s issued by %s (it answers for serial %s)"
                      % (describe(cert), describe(issuer), ", ".join(seen) or "nothing"))


def check_times(single, now=None):
    """OcspStale when this_update is in the future or next_update is past (both with CLOCK_SKEW)."""
    now = _now(now)
    this_update, next_update = single.this_update_utc, single.next_update_utc
    if this_update > now + CLOCK_SKEW:
        raise OcspStale("this_update %s is in the future (now %s): the responder's clock or ours is wrong"
                        % (_time(this_update), _time(now)))
    if next_update is not None and next_update < now - CLOCK_SKEW:
        raise OcspStale("stale response: next_update %s is past (now %s)" % (_time(next_update), _time(now)))


def refresh_at(this_update, next_update):
    """Half-way through the response's validity; None without next_update (newer status available any time)."""
    if next_update is None:
        return None
    return this_update + (next_update - this_update) / 2


def verify_response(response_der, cert, issuer, now=None, source="the response"):
    """Verify an OCSP response for ``cert`` (issued by ``issuer``); return its facts as a JSON-friendly dict.

    OcspInvalid: not OCSP data, an error status, a signer that is neither the issuer nor a delegated responder
    the issuer signed with id-kp-OCSPSigning, a bad signature, or a certID that is not this certificate's.
    OcspStale: this_update in the future, or next_update past. A revoked or unknown status is a result, not an
    error: the caller decides (the module fails on it by default).
    """
    response = _load_response(response_der, source)
    signer, signer_label = find_signer(response, issuer, now)
    verify_signature(response, signer, signer_label)
    single = find_single(response, cert, issuer)
    check_times(single, now)
    revoked = single.certificate_status == ocsp.OCSPCertStatus.REVOKED
    reason = single.revocation_reason if revoked else None
    return {
        "status": single.certificate_status.name.lower(),
        "revocation_time": _time(single.revocation_time_utc) if revoked else None,
        "revocation_reason": reason.value if reason is not None else None,
        "this_update": _time(single.this_update_utc),
        "next_update": _time(single.next_update_utc),
        "refresh_at": _time(refresh_at(single.this_update_utc, single.next_update_utc)),
        "produced_at": _time(response.produced_at_utc),
        "signer": signer_label,
    }


def fetch_status(cert, issuer, responder_url=None, timeout=DEFAULT_TIMEOUT, now=None, what="certificate"):
    """Ask the certificate's OCSP responder and verify the answer. The result is what ocsp_stapling returns.

    ``supported`` is False (not an error) when neither ``responder_url`` nor the certificate's AIA names a
    responder: Let's Encrypt ended OCSP in 2025 and its certificates have nothing to staple. Errors
    (OcspError, InputError) name ``what`` and the responder.
    """
    name = "%s (%s)" % (what, describe(cert))
    urls = ocsp_responders(cert)
    url = responder_url or (urls[0] if urls else None)
    result = {"supported": bool(url), "certificate": name, "serial": "%x" % cert.serial_number,
              "responder_url": url}
    if not url:
        result["msg"] = ("%s names no OCSP responder (no OCSP URL in its Authority Information Access): nothing to "
                         "staple; its issuer may run no responder (Let's Encrypt ended OCSP in 2025)" % name)
        return result
    check_issuer(cert, issuer, what)
    try:
        response_der = post_request(url, build_request(cert, issuer), timeout)
        facts = verify_response(response_der, cert, issuer, now, source="the answer of OCSP responder %s" % url)
    except OcspError as error:
        error.msg = "%s: %s" % (name, error.msg)
        error.args = (error.msg,)
        error.details.update(certificate=name, responder_url=url, serial=result["serial"])
        raise
    result.update(facts)
    result["response"] = base64.b64encode(response_der).decode("ascii")
    return result


def staple_needs_refresh(response_der, now=None):
    """True when a deployed staple should be replaced: missing or unreadable, not a successful OCSP response,
    without next_update, or past half of its validity (this_update + (next_update - this_update) / 2).

    The nginx role's refresh rule: it reads ``<dir>/live/ocsp.der`` from the host and fetches a new staple
    (ocsp_stapling, which verifies it) only when this says so. Only times are read here, never trusted: the
    signature was checked when the staple was fetched, and is checked again for any new one.
    """
    if not response_der:
        return True
    try:
        response = ocsp.load_der_ocsp_response(bytes(response_der))
        if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            return True
        singles = list(response.responses)
    except ValueError:
        return True
    if not singles:
        return True
    now = _now(now)
    for single in singles:
        due = refresh_at(single.this_update_utc, single.next_update_utc)
        if due is None or now >= due:
            return True
    return False


__all__ = ["OcspError", "OcspUnreachable", "OcspInvalid", "OcspStale", "CLOCK_SKEW", "DEFAULT_TIMEOUT",
           "build_request", "post_request", "verify_response", "fetch_status", "staple_needs_refresh",
           "load_certificates", "check_issuer", "describe", "refresh_at"]
