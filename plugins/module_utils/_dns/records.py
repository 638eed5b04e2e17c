# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Record data as the operator writes it and as dnspython holds it: parsing, comparing, showing. No network.

Values are in presentation format (``0 issue "letsencrypt.org"``, ``3 1 1 ab12...``, ``192.0.2.1``,
``target.example.org``), except TXT, whose value is the text itself, unquoted: a dns-01 digest goes in as is.
"""

from __future__ import annotations

try:
    import dns.exception
    import dns.name
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype
    from dns.rdtypes.ANY.TXT import TXT
except ImportError:  # pragma: no cover
    pass

from ..errors import InputError
from .client import to_name, name_text

SUPPORTED_TYPES = ("A", "AAAA", "CNAME", "TXT", "TLSA", "CAA")
DEFAULT_TTL = 300
TXT_STRING_MAX = 255  # RFC 1035 §3.3.14: a TXT record is one or more character-strings of at most 255 bytes


def check_type(rtype):
    value = (rtype or "").upper()
    if value not in SUPPORTED_TYPES:
        raise InputError("record type %r is not supported; use one of %s" % (rtype, ", ".join(SUPPORTED_TYPES)))
    return value


def make_rdata(rtype, value, record="record"):
    """One dnspython rdata from an operator's value; InputError naming the record and the value."""
    if not isinstance(value, str):
        raise InputError("value %r of %s %s must be a string" % (value, record, rtype))
    if rtype == "TXT":
        data = value.encode("utf-8")
        strings = [data[i:i + TXT_STRING_MAX] for i in range(0, len(data), TXT_STRING_MAX)] or [b""]
        return TXT(dns.rdataclass.IN, dns.rdatatype.TXT, strings)
    try:
        return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rtype), value.strip(),
                                   origin=dns.name.root, relativize=False)
    except (dns.exception.DNSException, ValueError, UnicodeError) as error:
        raise InputError("value %r of %s %s is not valid %s data: %s" % (value, record, rtype, rtype, error))


def rdata_key(rdata):
    """What makes two records the same: TXT by its whole text (however it is split into strings), anything else
    by its canonical wire form (dnspython's equality: case of hex, spacing and such do not matter)."""
    if rdata.rdtype == dns.rdatatype.TXT:
        return ("TXT", b"".join(rdata.strings))
    return (dns.rdatatype.to_text(rdata.rdtype), rdata.to_digestable(dns.name.root))


def value_text(rdata):
    """The operator's form of a value: TXT unquoted and joined, anything else in presentation format."""
    if rdata.rdtype == dns.rdatatype.TXT:
        return b"".join(rdata.strings).decode("utf-8", "replace")
    text = rdata.to_text()
    return text.rstrip(".") if rdata.rdtype == dns.rdatatype.CNAME else text


def zone_line(name, ttl, rdata):
    """One line of zone-file text, for diffs and messages."""
    return "%s %s IN %s %s" % (name.to_text(), ttl if ttl is not None else "-", dns.rdatatype.to_text(rdata.rdtype),
                               rdata.to_text())


class RecordRequest:
    """One RRset the operator asks about: name, type, values (rdata), ttl (None: keep the existing TTL)."""

    def __init__(self, record, rtype, values, ttl=None):
        self.rtype = check_type(rtype)
        self.name = to_name(record, "record")
        self.record = name_text(self.name)
        if values is None:
            values = []
        if isinstance(values, str):
            values = [values]
        self.values = []
        seen = set()
        for value in values:
            rdata = make_rdata(self.rtype, value, self.record)
            if rdata_key(rdata) not in seen:
                seen.add(rdata_key(rdata))
                self.values.append(rdata)
        if self.rtype == "CNAME" and len(self.values) > 1:
            raise InputError("%s CNAME has %d values: a name has at most one CNAME (RFC 1034 §3.6.2)"
                             % (self.record, len(self.values)))
        if ttl is not None and not 0 <= int(ttl) <= 2147483647:
            raise InputError("ttl %r of %s is outside 0..2147483647 (RFC 2181 §8)" % (ttl, self.record))
        self.ttl = None if ttl is None else int(ttl)

    def keys(self):
        return set(rdata_key(r) for r in self.values)


def merge_requests(requests):
    """Requests for the same name and type become one (values united, the first explicit TTL kept), so that the
    dns-01 values of a wildcard and its apex (both at ``_acme-challenge.<apex>``) go in one RRset."""
    merged = {}
    order = []
    for request in requests:
        key = (request.name, request.rtype)
        if key not in merged:
            merged[key] = request
            order.append(key)
            continue
        into = merged[key]
        known = into.keys()
        for rdata in request.values:
            if rdata_key(rdata) not in known:
                into.values.append(rdata)
                known.add(rdata_key(rdata))
        if into.rtype == "CNAME" and len(into.values) > 1:
            raise InputError("%s CNAME is asked with two different targets" % into.record)
        if into.ttl is None:
            into.ttl = request.ttl
    return [merged[key] for key in order]
