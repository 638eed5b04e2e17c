# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CAA (RFC 8659) as the CA will see it, checked before any order: a name whose CAA records name no issuer of
the CA fails here, naming the record and the CA, instead of costing an order and a failed authorization.

The CA's issuer domains come from its directory (``meta.caaIdentities``, RFC 8555 §7.1.1). The parameters of
RFC 8657 are honoured when we know what they are matched against: ``validationmethods`` against the challenge
type, ``accounturi`` against the account URL.
"""

from __future__ import annotations

try:
    import dns.rcode
    import dns.rdatatype
except ImportError:  # pragma: no cover
    pass

from ..errors import CertfleetError, InputError
from .client import DnsError, name_text, to_name

KNOWN_TAGS = ("issue", "issuewild", "iodef")
CRITICAL_FLAG = 128  # RFC 8659 §4.1: the Issuer Critical Flag
MAX_CNAME_HOPS = 8


class CaaForbidden(CertfleetError):
    """A CAA record names no issuer of the CA for one or more names."""


def base_name(domain):
    """The name whose CAA records govern ``domain``: a wildcard's base name (RFC 8659 §3)."""
    return domain[2:] if domain.startswith("*.") else domain


def parse_issue_value(value):
    """(issuer domain name or "", {parameter: value}) of an issue/issuewild value (RFC 8659 §4.2). An empty
    issuer domain (``";"``) authorizes no CA."""
    issuer, _sep, rest = value.partition(";")
    params = {}
    for part in rest.split(";"):
        if not part.strip():
            continue
        tag, eq, val = part.partition("=")
        if eq:
            params[tag.strip().lower()] = val.strip()
    return issuer.strip().rstrip(".").lower(), params


def _caa_rrset(response, name):
    """The CAA records at the end of the CNAME chain from ``name`` inside one answer; the last name reached."""
    current = name
    for _hop in range(MAX_CNAME_HOPS):
        cname = None
        for rrset in response.answer:
            if rrset.name == current and rrset.rdtype == dns.rdatatype.CAA:
                return list(rrset), current
            if rrset.name == current and rrset.rdtype == dns.rdatatype.CNAME:
                cname = rrset[0].target
        if cname is None:
            return [], current
        current = cname
    return [], current


def lookup_caa(resolver, name):
    """CAA records at ``name`` (CNAMEs followed, RFC 8659 §3). DnsError when the lookup fails: a CA must then
    refuse to issue (RFC 8659 §3), so the preflight cannot say yes either."""
    current = name
    for _hop in range(MAX_CNAME_HOPS):
        response = resolver.query(current, dns.rdatatype.CAA)
        rcode = response.rcode()
        if rcode == dns.rcode.NXDOMAIN:
            return []
        if rcode != dns.rcode.NOERROR:
            raise DnsError("the CAA lookup of %s at %s failed: %s; a CA refuses to issue when it cannot look up CAA "
                           "(RFC 8659 §3)" % (name_text(current), resolver.label, dns.rcode.to_text(rcode)),
                           rcode=dns.rcode.to_text(rcode))
        records, last = _caa_rrset(response, current)
        if records or last == current:
            return records
        current = last  # a CNAME the server did not chase (an authoritative-only server): ask for its target
    raise DnsError("the CNAME chain of %s is longer than %d names" % (name_text(name), MAX_CNAME_HOPS))


def relevant_rrset(resolver, domain):
    """(owner, records): the relevant CAA RRset of ``domain`` (RFC 8659 §3): the CAA records at the name, else
    at its parent, climbing to the top-level domain (the root is not asked). (None, []) when there are none."""
    name = to_name(base_name(domain), "domain")
    while len(name.labels) > 1:  # the root name has one (empty) label
        records = lookup_caa(resolver, name)
        if records:
            return name, records
        name = name.parent()
    return None, []


def decide(domain, owner, records, identities, challenge_type=None, account_uri=None):
    """Whether the CA (``identities``: its issuer domain names) may issue for ``domain`` under these CAA records
    (RFC 8659 §4, RFC 8657 §3-4). Returns dict(domain, caa_owner, records, property, allowed, reason, matched)."""
    wildcard = domain.startswith("*.")
    wanted = set(i.strip().rstrip(".").lower() for i in identities if i and i.strip())
    texts = [r.to_text() for r in records]
    out = {"domain": domain, "caa_owner": name_text(owner) if owner is not None else None, "records": texts,
           "property": None, "allowed": True, "matched": None}
    if not records:
        out["reason"] = "no CAA record at %s or any parent: CAA does not restrict issuance" % base_name(domain)
        return out
    properties = [(r.flags, r.tag.decode("ascii", "replace").lower(), r.value.decode("utf-8", "replace"), text)
                  for r, text in zip(records, texts)]
    at = name_text(owner)
    for flags, tag, _value, text in properties:
        if flags & CRITICAL_FLAG and tag not in KNOWN_TAGS:
            out.update(allowed=False, reason="CAA record at %s (%s) carries the critical flag on tag %r, which a CA "
                                             "does not know: it must refuse to issue (RFC 8659 §4.1)" % (at, text, tag))
            return out
    issue = [p for p in properties if p[1] == "issue"]
    issuewild = [p for p in properties if p[1] == "issuewild"]
    # RFC 8659 §4.3: for a wildcard, issuewild properties (when any) replace the issue properties
    used, tag = (issuewild, "issuewild") if wildcard and issuewild else (issue, "issue")
    out["property"] = tag
    if not used:
        out.update(property=None, reason="CAA records at %s have no %s property: CAA does not restrict issuance "
                                         "(RFC 8659 §4)" % (at, tag))
        return out
    refusals = []
    for _flags, _tag, value, text in used:
        issuer, params = parse_issue_value(value)
        if not issuer or issuer not in wanted:
            continue
        methods = params.get("validationmethods")
        if methods and challenge_type and challenge_type not in [m.strip() for m in methods.split(",")]:
            refusals.append("%s allows the CA only by %s, not %s (RFC 8657 §4)" % (text, methods, challenge_type))
            continue
        if params.get("accounturi") and account_uri and params["accounturi"] != account_uri:
            refusals.append("%s allows only the account %s (RFC 8657 §3)" % (text, params["accounturi"]))
            continue
        out.update(matched=text, reason="CAA record at %s (%s) names the CA" % (at, text))
        return out
    out["allowed"] = False
    out["reason"] = "CAA %s records at %s (%s) name no issuer of this CA (%s)%s" % (
        tag, at, "; ".join(p[3] for p in used), ", ".join(sorted(wanted)) or "no identity",
        ": " + "; ".join(refusals) if refusals else "")
    return out


def check_caa(resolver, domains, identities, challenge_type=None, account_uri=None):
    """decide() for every domain, looking each one up through ``resolver`` (recursion on)."""
    if not identities:
        raise InputError("no CAA identity of the CA is known: its directory lists no meta.caaIdentities; set "
                         "caa_identities to the issuer domain names its CAA records use")
    results = []
    for domain in domains:
        owner, records = relevant_rrset(resolver, domain)
        results.append(decide(domain, owner, records, identities, challenge_type, account_uri))
    return results


def forbidden_message(results, ca_label):
    bad = [r for r in results if not r["allowed"]]
    return "CAA forbids %s to issue for %s: %s" % (
        ca_label, ", ".join(r["domain"] for r in bad), " | ".join("%s: %s" % (r["domain"], r["reason"]) for r in bad))
