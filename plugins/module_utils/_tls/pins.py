# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SPKI pins, the HPKP header and DANE TLSA data, from whatever key material the operator holds.

Pure: ``cryptography`` and the standard library, no Ansible import. Every error names the input
(``active[0]``, ``backup[1]`` ...) and never shows its content, which may be a private key.
"""

from __future__ import annotations

import base64
import binascii
import collections
import os
import re

from urllib.parse import urlsplit

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
    from cryptography.x509.oid import NameOID
    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover
    HAS_CRYPTOGRAPHY = False

from ..errors import InputError
from .keys import normalize_domain, spki_sha256, tlsa_3_1_1

HPKP_DEFAULT_MAX_AGE = 5184000  # 60 days, RFC 7469 §4.1 suggests this order of magnitude
HEADER_ENFORCING = "Public-Key-Pins"
HEADER_REPORT_ONLY = "Public-Key-Pins-Report-Only"
BROWSER_REMOVAL_WARNING = (
    "Browsers removed HPKP (Chrome 72, Firefox 72): no browser enforces or reports the %s header any more. "
    "The same pins still serve DANE (TLSA 3 1 1 is the hex form of the same SHA-256), app pinning, and "
    "curl --pinnedpubkey, which takes them as %s.")

# A raw pin-sha256 value: base64 (with padding) of a 32-byte SHA-256 digest, 44 characters (RFC 7469 §2.1.1).
_RAW_PIN = re.compile(r"^[A-Za-z0-9+/]{43}=$")
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.S)
_LONG_BASE64 = re.compile(r"^[A-Za-z0-9+/=\s]{60,}$")
_CERT_LABELS = ("CERTIFICATE", "X509 CERTIFICATE")
_CSR_LABELS = ("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST")
_PUBLIC_LABELS = ("PUBLIC KEY", "RSA PUBLIC KEY")
_PRIVATE_LABELS = ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "DSA PRIVATE KEY")
_SKIPPED_LABELS = ("EC PARAMETERS", "DH PARAMETERS")  # `openssl ecparam -genkey` writes these before the key
_KINDS = "a certificate, public key, private key or CSR (PEM or DER)"
_ENCRYPTED = ("%s is an encrypted private key; give its certificate, public key or CSR instead "
              "(a pin needs only the public half)")

KeyMaterial = collections.namedtuple("KeyMaterial", "public_key kind label")
KeyMaterial.__doc__ = """What one input holds: its public key, its kind and a description without content.

``kind`` is one of certificate, csr, public key, private key. ``label`` reads like
"certificate CN=www.example.org, EC P-256 key". The private key itself is never kept.
"""


def _text(data):
    return data.encode() if isinstance(data, str) else bytes(data)


def describe_public_key(public_key):
    """"EC P-256 key", "RSA 2048 key", "Ed25519 key": the type, never the key."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return "RSA %d key" % public_key.key_size
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        curve = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
        return "EC %s key" % curve.get(public_key.curve.name, public_key.curve.name)
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "Ed25519 key"
    if isinstance(public_key, ed448.Ed448PublicKey):
        return "Ed448 key"
    if isinstance(public_key, dsa.DSAPublicKey):
        return "DSA %d key" % public_key.key_size
    return "%s key" % type(public_key).__name__


def _subject(name):
    common_names = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if common_names:
        return "CN=%s" % common_names[0].value
    return name.rfc4514_string() or "empty subject"


def _material(obj, kind):
    if kind == "private key":
        public_key = obj.public_key()  # keep only the public half from here on
        return KeyMaterial(public_key, kind, "private key, %s" % describe_public_key(public_key))
    if kind == "public key":
        return KeyMaterial(obj, kind, "public key, %s" % describe_public_key(obj))
    public_key = obj.public_key()
    return KeyMaterial(public_key, kind, "%s %s, %s" % ("CSR" if kind == "csr" else kind, _subject(obj.subject),
                                                        describe_public_key(public_key)))


def _load_pem_block(label, block, what):
    if label == "ENCRYPTED PRIVATE KEY":
        raise InputError(_ENCRYPTED % what)
    try:
        if label in _CERT_LABELS:
            return _material(x509.load_pem_x509_certificate(block), "certificate")
        if label in _CSR_LABELS:
            return _material(x509.load_pem_x509_csr(block), "csr")
        if label in _PUBLIC_LABELS:
            return _material(serialization.load_pem_public_key(block), "public key")
        if label in _PRIVATE_LABELS:
            return _material(serialization.load_pem_private_key(block, password=None), "private key")
    except TypeError:
        # cryptography: "Password was not given but private key is encrypted" (traditional Proc-Type header)
        raise InputError(_ENCRYPTED % what)
    except ValueError:
        raise InputError("%s has a PEM %s block that cannot be parsed; give %s" % (what, label, _KINDS))
    except Exception as error:  # pylint: disable=broad-exception-caught
        # cryptography raises UnsupportedAlgorithm and friends; the message must not carry content
        raise InputError("%s has a PEM %s block that cannot be loaded (%s); give %s"
                         % (what, label, type(error).__name__, _KINDS))
    return None  # a label we do not pin (TRUSTED CERTIFICATE, PKCS7 ...): try the next block


def _load_der(der, what):
    loaders = ((x509.load_der_x509_certificate, "certificate"), (x509.load_der_x509_csr, "csr"),
               (serialization.load_der_public_key, "public key"))
    for loader, kind in loaders:
        try:
            return _material(loader(der), kind)
        except Exception:  # pylint: disable=broad-exception-caught
            continue  # not this kind of DER structure; try the next one
    try:
        return _material(serialization.load_der_private_key(der, password=None), "private key")
    except TypeError:
        raise InputError(_ENCRYPTED % what)
    except Exception:  # pylint: disable=broad-exception-caught
        raise InputError("%s is not %s" % (what, _KINDS))


def load_key_material(data, what="input"):
    """Identify PEM or DER ``data`` and return its KeyMaterial.

    A PEM bundle (a full chain, or a key followed by its certificate) is read from its first usable
    block: the leaf of a chain as the CA sends it. List the chain's other certificates as separate inputs
    to pin them too. Errors name ``what`` and never show the data.
    """
    data = _text(data)
    blocks = _PEM_BLOCK.finditer(data)
    seen_labels = []
    for match in blocks:
        label = match.group(1).decode("ascii")
        if label in _SKIPPED_LABELS:
            continue
        seen_labels.append(label)
        material = _load_pem_block(label, match.group(0), what)
        if material is not None:
            return material
    if seen_labels:
        raise InputError("%s holds PEM %s but not %s" % (what, " and ".join(sorted(set(seen_labels))), _KINDS))
    if b"-----BEGIN" in data:
        raise InputError("%s has a PEM header without a matching END line (truncated?); give %s" % (what, _KINDS))
    return _load_der(data, what)


def load_public_key_from_any(data, what="input"):
    """The public key inside a certificate, public key, private key (PKCS#8, traditional RSA/EC) or CSR.

    ``data`` is PEM or DER (bytes or str). Raises InputError naming ``what``.
    """
    return load_key_material(data, what).public_key


def spki_pin(key):
    """The HPKP pin-sha256 of ``key``: base64(SHA-256(DER SubjectPublicKeyInfo)) (RFC 7469 §2.4).

    ``key`` is a public key, or anything with a ``public_key()`` (private key, certificate, CSR).
    It equals ``openssl x509 -pubkey | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64``.
    """
    return spki_sha256(_public_half(key))


def _public_half(key):
    return key.public_key() if hasattr(key, "public_key") else key


def parse_pin(value, what="pin"):
    """Check a raw pin-sha256 value (base64 of 32 bytes, 44 characters) and return it unchanged."""
    value = value.strip() if isinstance(value, str) else value
    if not isinstance(value, str) or not _RAW_PIN.match(value):
        raise InputError("%s is not a pin-sha256 value (44 characters of base64, the SHA-256 of a "
                         "SubjectPublicKeyInfo)" % what)
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InputError("%s is not valid base64" % what)
    if len(digest) != 32:  # pragma: no cover - the pattern allows only 32 bytes; kept as a guard
        raise InputError("%s decodes to %d bytes, a SHA-256 pin has 32" % (what, len(digest)))
    return value


def input_kind(item, allow_pin=False):
    """How an option entry is given: "pem", "pin", "path" or "unknown".

    "pin" and "path" entries are public (a pin is published; a path names a file), so a caller may show
    them; "pem" and "unknown" entries may hold a private key and must never be shown.
    """
    if not isinstance(item, str) or not item.strip():
        return "unknown"
    if "-----BEGIN" in item:
        return "pem"
    if allow_pin and _RAW_PIN.match(item.strip()):
        return "pin"
    # Anything else should be a file path: one line, no PEM dashes, and not a long base64 run (which would
    # be key material without its PEM armor, and must not be echoed as a "path").
    if "\n" in item or "-----" in item or len(item) > 4096 or _LONG_BASE64.match(item):
        return "unknown"
    return "path"


def read_pin_input(item, what, allow_pin=False):
    """Turn one option entry (PEM text, file path, or for backups a raw pin) into (pin, description).

    The description names the kind of material and, for a file, its path; never its content.
    """
    kind = input_kind(item, allow_pin)
    if kind == "pin":
        return parse_pin(item, what), "pin-sha256 value"
    if kind == "pem":
        material = load_key_material(item, what)
        return spki_pin(material.public_key), "%s, PEM content" % material.label
    if kind == "path" and _RAW_PIN.match(item.strip()) and not os.path.exists(item):
        raise InputError("%s looks like a pin-sha256 value; give the served certificate or key instead (raw "
                         "pins are taken only as backups)" % what)
    if kind == "unknown":
        raise InputError("%s is not PEM%s or a file path; give %s, or a file holding one"
                         % (what, ", a pin-sha256 value" if allow_pin else "", _KINDS))
    path = os.path.expanduser(item)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except (IOError, OSError) as error:
        raise InputError("%s: file %s cannot be read: %s" % (what, item, error.strerror))
    material = load_key_material(data, "%s (file %s)" % (what, item))
    return spki_pin(material.public_key), "%s, file %s" % (material.label, item)


def collect_pins(active, backup):
    """Pins of the ``active`` and ``backup`` option entries, active first, without duplicates.

    Returns (pins, notes): ``pins`` is a list of {sha256, role, source}; a pin given again is not listed
    twice, its first source says "also <input>". ``notes`` are warnings for the operator (a backup
    that is really an active key). Raises InputError naming the entry that cannot be read.
    """
    pins = []
    by_pin = {}
    notes = []
    for role, items in (("active", active or []), ("backup", backup or [])):
        for index, item in enumerate(items):
            what = "%s[%d]" % (role, index)
            pin, description = read_pin_input(item, what, allow_pin=(role == "backup"))
            if pin in by_pin:
                first = by_pin[pin]
                first["source"] += " (also %s)" % what
                if role == "backup" and first["role"] == "active":
                    notes.append("%s has the same pin as an active input (%s): it is not a backup key"
                                 % (what, first["source"].split(":", 1)[0]))
                continue
            entry = {"sha256": pin, "role": role, "source": "%s: %s" % (what, description)}
            by_pin[pin] = entry
            pins.append(entry)
    return pins, notes


def _check_report_uri(report_uri):
    # RFC 7469 §2.1.4: a quoted-string holding an absolute URI. Refuse what would break the quoting.
    if re.search(r'["\\\s]', report_uri) or any(ord(char) < 32 or ord(char) == 127 for char in report_uri):
        raise InputError("report_uri %r must not contain quotes, backslashes, spaces or control characters"
                         % report_uri)
    parts = urlsplit(report_uri)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError("report_uri %r is not an absolute http(s) URI (RFC 7469 §2.1.4)" % report_uri)


def hpkp_header(active_pins, backup_pins, max_age=HPKP_DEFAULT_MAX_AGE, include_subdomains=False,
                report_uri=None, report_only=True):
    """Return (header_name, header_value) of an RFC 7469 header for these pins.

    Active pins come first, then backup pins, each once. Refused (InputError) without at least one backup
    pin that differs from every active pin (RFC 7469 §4.3: a UA must not note a pin set without one),
    with a negative ``max_age`` (§2.1.2 wants delta-seconds), or with an unusable ``report_uri``.
    """
    active_pins = list(active_pins or [])
    backup_pins = list(backup_pins or [])
    if not active_pins:
        raise InputError("active is empty: give the served certificate, its key, or its CSR")
    if max_age is None or isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0:
        raise InputError("max_age %r is not a number of seconds >= 0 (RFC 7469 §2.1.2)" % (max_age,))
    if not any(pin not in active_pins for pin in backup_pins):
        raise InputError("no backup pin differs from every active pin: HPKP needs a backup key that is not in "
                         "the served chain (RFC 7469 §4.3); give the backup key's public key, CSR or pin in "
                         "backup")
    ordered = []
    for pin in active_pins + backup_pins:
        if pin not in ordered:
            ordered.append(pin)
    directives = ['pin-sha256="%s"' % pin for pin in ordered]
    directives.append("max-age=%d" % max_age)
    if include_subdomains:
        directives.append("includeSubDomains")
    if report_uri:
        _check_report_uri(report_uri)
        directives.append('report-uri="%s"' % report_uri)
    return (HEADER_REPORT_ONLY if report_only else HEADER_ENFORCING), "; ".join(directives)


def curl_pinnedpubkey(pins):
    """The argument of ``curl --pinnedpubkey`` that accepts any of ``pins``: sha256//A;sha256//B."""
    return ";".join("sha256//%s" % pin for pin in pins)


def hpkp_result(active, backup, max_age=HPKP_DEFAULT_MAX_AGE, include_subdomains=False, report_uri=None,
                report_only=True):
    """What the hpkp_header module returns, from its option entries (PEM text, paths, raw backup pins).

    Returns a dict with header_name, header_value, pins and warnings. Raises InputError (nothing
    returned) when an entry cannot be read or the header would be refused.
    """
    pins, notes = collect_pins(active, backup)
    active_pins = [entry["sha256"] for entry in pins if entry["role"] == "active"]
    backup_pins = [entry["sha256"] for entry in pins if entry["role"] == "backup"]
    name, value = hpkp_header(active_pins, backup_pins, max_age, include_subdomains, report_uri, report_only)
    warnings = [BROWSER_REMOVAL_WARNING % (name, "'%s'" % curl_pinnedpubkey(active_pins + backup_pins))] + notes
    return {"header_name": name, "header_value": value, "pins": pins, "warnings": warnings}


# --- DANE TLSA (RFC 6698, RFC 7671) -------------------------------------------------------------------------

TLSA_PROTOCOLS = ("tcp", "udp", "sctp")
TLSA_PORTS = {"https": 443, "smtp": 25}


def _as_list(value):
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _tlsa_owner(name, port, proto):
    domain = normalize_domain(name, challenge_type="dns-01")
    if domain.startswith("*."):
        # RFC 4592: a wildcard is only the leftmost label, so _443._tcp.*.example.org matches nothing.
        raise InputError("name %r is a wildcard: TLSA records go under each host name (_%d._%s.<host>)"
                         % (name, port, proto))
    return "_%d._%s.%s." % (port, proto, domain)


def tlsa_records(public_keys_by_role, names, ports=(443,), proto="tcp", issuer_cert=None):
    """DANE TLSA data for ``names``: one ``3 1 1`` per key and service, and optionally ``2 1 1`` for the issuer.

    ``public_keys_by_role`` maps "active" and "backup" to a key or a list of keys (public or private key,
    certificate or CSR objects: only the SubjectPublicKeyInfo counts). ``ports`` lists the services
    (443 for HTTPS by default, 25 for mail: TLSA_PORTS). ``issuer_cert`` (a cryptography Certificate or
    PEM/DER bytes) adds ``2 1 1`` (DANE-TA, SPKI, SHA-256, RFC 7671 §5.2): it only works while the server
    sends that issuer in its chain.

    Publishing both the active and the backup ``3 1 1`` lets a planned rotation switch keys without a
    window in which the served key has no record (RFC 7671 §8.1). Returns a list of
    {name, usage, selector, matching_type, data, role}, active first; see tlsa_zone_lines.
    """
    unknown = sorted(set(public_keys_by_role) - {"active", "backup"})
    if unknown:
        raise InputError("public_keys_by_role has roles %s; only active and backup are known" % unknown)
    if proto not in TLSA_PROTOCOLS:
        raise InputError("proto %r is not one of %s" % (proto, ", ".join(TLSA_PROTOCOLS)))
    ports = _as_list(ports)
    for port in ports:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise InputError("port %r is not a TCP/UDP port number (1-65535)" % (port,))
    names = _as_list(names)
    if not names:
        raise InputError("names is empty: give the host names the service answers for")
    keys_by_role = [(role, _as_list(public_keys_by_role.get(role))) for role in ("active", "backup")]
    if not keys_by_role[0][1]:
        raise InputError("no active key: TLSA 3 1 1 needs the served key")
    associations = []  # (usage, data, role), each once
    for role, keys in keys_by_role:
        for key in keys:
            data = tlsa_3_1_1(_public_half(key))
            if not any(data == known[1] for known in associations):
                associations.append((3, data, role))
    if issuer_cert is not None:
        if not hasattr(issuer_cert, "public_key"):
            material = load_key_material(issuer_cert, "issuer_cert")
            if material.kind != "certificate":
                raise InputError("issuer_cert holds a %s, not a certificate" % material.kind)
            issuer_key = material.public_key
        else:
            issuer_key = issuer_cert.public_key()
        associations.append((2, tlsa_3_1_1(issuer_key), "issuer"))
    records = []
    for name in names:
        for port in ports:
            owner = _tlsa_owner(name, port, proto)
            for usage, data, role in associations:
                records.append({"name": owner, "usage": usage, "selector": 1, "matching_type": 1, "data": data,
                                "role": role})
    return records


def tlsa_zone_lines(records, ttl=None):
    """Zone-file lines for tlsa_records' output: ``_443._tcp.www.example.org. IN TLSA 3 1 1 <hex>``."""
    ttl_field = "%d " % ttl if ttl is not None else ""
    return ["%s %sIN TLSA %d %d %d %s" % (record["name"], ttl_field, record["usage"], record["selector"],
                                          record["matching_type"], record["data"]) for record in records]


def tlsa_from_pins(pins_by_role, names, ports=(443,), proto="tcp"):
    """TLSA ``3 1 1`` records from pin-sha256 values (the same SHA-256 of the SPKI, base64 instead of hex), for a
    key known only by its pin (a backup key that stays in the store). Wildcard names get no record."""
    records = []
    for role in ("active", "backup"):
        pin = pins_by_role.get(role)
        if not pin:
            continue
        data = base64.b64decode(pin).hex()
        for name in names:
            if name.startswith("*."):
                continue
            for port in ports:
                records.append({"name": _tlsa_owner(name, port, proto), "usage": 3, "selector": 1,
                                "matching_type": 1, "data": data, "role": role})
    return records
