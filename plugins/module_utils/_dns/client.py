# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Talking to one name server with dnspython: queries, RFC 2136 updates signed with TSIG (RFC 8945), and the
errors that name the server, the zone and the key. No Ansible import.

A TSIG secret is held as bytes inside a ``dns.tsig.Key`` and never put in a message: dnspython's own
``repr`` of a Key shows its secret, so no Key object is ever formatted into an error.
"""

from __future__ import annotations

import base64
import binascii
import errno
import re
import socket

try:
    import dns.exception
    import dns.flags
    import dns.message
    import dns.name
    import dns.query
    import dns.rcode
    import dns.rdataclass
    import dns.rdatatype
    import dns.resolver
    import dns.tsig
    HAS_DNSPYTHON = True
except ImportError:  # pragma: no cover - the module reports missing_required_lib
    HAS_DNSPYTHON = False

from ..errors import CertfleetError, InputError

DEFAULT_TIMEOUT = 10.0

# RFC 8945 §6 and RFC 4635: the names BIND's tsig-keygen and nsupdate use.
TSIG_ALGORITHMS = ("hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1", "hmac-md5")
_ALGORITHM_NAMES = {"hmac-md5": "hmac-md5.sig-alg.reg.int"}

# errno values that mean "this control node cannot reach that address family at all" (no IPv6 route, say),
# as opposed to a server that does not answer.
UNREACHABLE_ERRNOS = (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT)


class DnsError(CertfleetError):
    """A name server could not be reached, refused, or answered something we cannot use."""


class TsigRefused(DnsError):
    """The server did not accept our TSIG signature (BADKEY, BADSIG, BADTIME)."""


class PropagationTimeout(DnsError):
    """Some authoritative servers still did not answer the new data when the wait ran out."""


class TsigKey:
    """A TSIG key for RFC 2136 updates. ``secret`` is base64 (what tsig-keygen prints); never shown."""

    def __init__(self, name, secret, algorithm="hmac-sha256"):
        if not name:
            raise InputError("tsig_key_name is empty: give the name of the key as the server knows it")
        algorithm = (algorithm or "hmac-sha256").lower().rstrip(".")
        if algorithm not in TSIG_ALGORITHMS and algorithm != "hmac-md5.sig-alg.reg.int":
            raise InputError("TSIG algorithm %r is not supported; use one of %s" % (algorithm, ", ".join(TSIG_ALGORITHMS)))
        try:
            raw = base64.b64decode("".join(str(secret).split()), validate=True)
        except (binascii.Error, ValueError):
            raise InputError("the secret of TSIG key %r is not base64 (as tsig-keygen writes it)" % name)
        if not raw:
            raise InputError("the secret of TSIG key %r is empty" % name)
        self.name = name.rstrip(".")
        self.algorithm = _ALGORITHM_NAMES.get(algorithm, algorithm)
        self._key = dns.tsig.Key(self.name, raw, self.algorithm)

    @property
    def dns_key(self):
        return self._key

    def __repr__(self):
        return "<TsigKey %s (%s)>" % (self.name, self.algorithm)


_KEY_STATEMENT = re.compile(r'key\s+"?([^"\s{]+)"?\s*\{(.*?)\}\s*;', re.S)
_KEY_FIELD = re.compile(r'(algorithm|secret)\s+"?([^";\s]+)"?\s*;')


def parse_bind_key_file(text, source, key_name=None):
    """(name, secret, algorithm) from a BIND key file (``key "name" { algorithm hmac-sha256; secret "..."; };``,
    what tsig-keygen writes and nsupdate -k reads). With several keys in the file, ``key_name`` picks one."""
    keys = []
    for match in _KEY_STATEMENT.finditer(text):
        fields = dict(_KEY_FIELD.findall(match.group(2)))
        keys.append((match.group(1).rstrip("."), fields.get("secret"), fields.get("algorithm", "hmac-sha256")))
    if key_name:
        keys = [k for k in keys if k[0] == key_name.rstrip(".")]
    if not keys:
        raise InputError("%s holds no BIND key statement%s (key \"NAME\" { algorithm ...; secret \"...\"; };)"
                         % (source, " named %r" % key_name if key_name else ""))
    if len(keys) > 1:
        raise InputError("%s holds several keys (%s): set tsig_key_name to pick one"
                         % (source, ", ".join(k[0] for k in keys)))
    name, secret, algorithm = keys[0]
    if not secret:
        raise InputError("key %r in %s has no secret" % (name, source))
    return name, secret, algorithm


def to_name(text, what="name"):
    """An absolute dns.name.Name; a name without its final dot is taken as absolute (never relative to a search
    domain). InputError naming ``what`` when it is not a valid DNS name."""
    if isinstance(text, dns.name.Name):
        return text
    if not isinstance(text, str) or not text.strip():
        raise InputError("%s %r is not a DNS name" % (what, text))
    try:
        return dns.name.from_text(text.strip().rstrip(".") + ".")
    except (dns.exception.DNSException, UnicodeError) as error:
        raise InputError("%s %r is not a valid DNS name: %s" % (what, text, error))


def name_text(name):
    """A name as the operator writes it: no final dot (the root stays ".")."""
    text = name.to_text()
    return text if text == "." else text.rstrip(".")


class Nameserver:
    """One DNS server (address or host name, port). ``recursion`` sets RD on queries: True for a resolver, False
    to read a primary's or an authoritative server's own data."""

    def __init__(self, address, port=53, timeout=DEFAULT_TIMEOUT, recursion=False, label=None):
        if not address:
            raise InputError("a DNS server address is empty")
        self.address = address
        self.port = int(port)
        self.timeout = float(timeout)
        self.recursion = recursion
        self.label = label or ("%s:%d" % (address, self.port) if ":" not in address else "[%s]:%d" % (address, self.port))
        self._ip = None

    @classmethod
    def system_resolver(cls, timeout=DEFAULT_TIMEOUT):
        """The first resolver of /etc/resolv.conf, with recursion."""
        try:
            servers = dns.resolver.Resolver().nameservers
        except dns.exception.DNSException as error:
            raise InputError("no resolver given and the system has none usable (/etc/resolv.conf): %s" % error)
        if not servers:
            raise InputError("no resolver given and /etc/resolv.conf lists none: set the resolver option")
        return cls(str(servers[0]), 53, timeout=timeout, recursion=True)

    @property
    def ip(self):
        if self._ip is None:
            try:
                infos = socket.getaddrinfo(self.address, self.port, 0, socket.SOCK_STREAM)
            except (socket.gaierror, UnicodeError) as error:
                raise DnsError("DNS server %s: cannot resolve its address: %s" % (self.label, error))
            self._ip = infos[0][4][0]
        return self._ip

    def query(self, name, rdtype, want_dnssec=False):
        """The response to one question (UDP, TCP when truncated). DnsError names the server on a timeout or a
        network error; the rcode is left to the caller."""
        question = dns.message.make_query(name, rdtype, want_dnssec=want_dnssec)
        if not self.recursion:
            question.flags &= ~dns.flags.RD
        try:
            response, _tcp = dns.query.udp_with_fallback(question, self.ip, timeout=self.timeout, port=self.port)
        except dns.exception.Timeout:
            raise DnsError("DNS server %s did not answer %s %s within %.0f s"
                           % (self.label, name_text(to_name(name)), dns.rdatatype.to_text(_rdtype(rdtype)), self.timeout))
        except OSError as error:
            raise DnsError("DNS server %s cannot be reached: %s" % (self.label, error.strerror or error),
                           errno=error.errno)
        except dns.exception.DNSException as error:
            raise DnsError("DNS server %s gave an unusable answer to %s: %s" % (self.label, name_text(to_name(name)), error))
        return response

    def send_update(self, update, zone, key_name):
        """Send an RFC 2136 UPDATE over TCP and check the answer; errors name the server, the zone and the key."""
        where = "%s (zone %s, TSIG key %r)" % (self.label, name_text(zone), key_name)
        try:
            response = dns.query.tcp(update, self.ip, timeout=self.timeout, port=self.port)
        except dns.tsig.PeerBadKey:
            raise TsigRefused("DNS server %s does not know TSIG key %r (BADKEY, RFC 8945 §5.2.1): check tsig_key_name "
                              "against the server's key statement" % (self.label, key_name), zone=name_text(zone))
        except dns.tsig.PeerBadSignature:
            raise TsigRefused("DNS server %s rejected the signature of TSIG key %r (BADSIG, RFC 8945 §5.2.2): the secret "
                              "or the algorithm differs from the server's" % (self.label, key_name), zone=name_text(zone))
        except dns.tsig.PeerBadTime:
            raise TsigRefused("DNS server %s rejected the time of our TSIG signature (BADTIME, RFC 8945 §5.2.3): the "
                              "clocks of this control node and the server differ by more than the fudge (300 s)"
                              % self.label, zone=name_text(zone))
        except dns.tsig.PeerError as error:
            raise TsigRefused("DNS server %s refused TSIG key %r: %s" % (self.label, key_name, error), zone=name_text(zone))
        except (dns.tsig.BadSignature, dns.tsig.BadKey, dns.tsig.BadTime):
            raise TsigRefused("the answer of %s does not carry a valid signature of TSIG key %r: another server "
                              "answered, or it holds another secret" % (where, key_name), zone=name_text(zone))
        except dns.exception.Timeout:
            raise DnsError("DNS server %s did not answer the update within %.0f s" % (where, self.timeout),
                           zone=name_text(zone))
        except OSError as error:
            raise DnsError("DNS server %s cannot be reached for the update: %s" % (where, error.strerror or error),
                           zone=name_text(zone))
        except dns.exception.DNSException as error:
            raise DnsError("DNS server %s gave an unusable answer to the update: %s" % (where, error),
                           zone=name_text(zone))
        rcode = response.rcode()
        if rcode != dns.rcode.NOERROR:
            raise DnsError("DNS server %s refused the update: %s (RFC 2136 §2.2)%s"
                           % (where, dns.rcode.to_text(rcode), _UPDATE_HINTS.get(rcode, "")),
                           zone=name_text(zone), rcode=dns.rcode.to_text(rcode))
        return response


def _rdtype(rdtype):
    return dns.rdatatype.from_text(rdtype) if isinstance(rdtype, str) else rdtype


if HAS_DNSPYTHON:
    _UPDATE_HINTS = {
        dns.rcode.REFUSED: ": the key may not update this zone (update-policy / allow-update), or the server only "
                           "forwards updates",
        dns.rcode.NOTAUTH: ": the server is not authoritative (not a primary) for the zone",
        dns.rcode.NOTZONE: ": a record is outside the zone",
        dns.rcode.SERVFAIL: ": the server failed (read its log)",
    }
else:  # pragma: no cover
    _UPDATE_HINTS = {}


def is_unreachable(error):
    """True when a DnsError says this control node cannot reach the address at all (no route, say)."""
    return isinstance(error, DnsError) and error.details.get("errno") in UNREACHABLE_ERRNOS
