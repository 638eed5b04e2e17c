# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Records through RFC 2136: read what the primary holds, plan the change, send one UPDATE per zone, read back.

Idempotence comes from reading first: a record that already reads as asked sends nothing. The primary's own data
is read without recursion (RD=0), so what we compare is what the zone holds, not a cache.

CNAME delegation (the ``_acme-challenge`` pattern): when the record's name is a CNAME, the record is written at
the end of the CNAME chain, in the zone that holds that name, and the TSIG key only needs to update that zone.
"""

from __future__ import annotations

try:
    import dns.flags
    import dns.name
    import dns.rcode
    import dns.rdatatype
    import dns.update
except ImportError:  # pragma: no cover
    pass

from ..errors import InputError
from .client import DnsError, name_text, to_name
from .propagation import DEFAULT_WAIT_TIMEOUT, servers_for, wait_until_served
from .records import DEFAULT_TTL, RecordRequest, merge_requests, rdata_key, value_text, zone_line

MAX_CNAME_HOPS = 8
STATES = ("present", "absent")


def _check_rcode(server, response, name, what):
    rcode = response.rcode()
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        raise DnsError("DNS server %s answered %s for %s (%s)%s" % (
            server.label, dns.rcode.to_text(rcode), name_text(name), what,
            ": it is not authoritative for that name" if rcode == dns.rcode.REFUSED else ""),
            rcode=dns.rcode.to_text(rcode))


def _rrset(response, name, rdtype):
    for rrset in response.answer:
        if rrset.name == name and rrset.rdtype == rdtype:
            return rrset
    return None


def cname_chain(server, name):
    """[name, target, target's target, ...]: the CNAME chain from ``name`` as ``server`` sees it (bounded, loops
    refused). A primary that does not serve ``name`` (REFUSED) is an error that says to give a resolver."""
    chain = [name]
    current = name
    while True:
        response = server.query(current, dns.rdatatype.CNAME)
        try:
            _check_rcode(server, response, current, "CNAME lookup")
        except DnsError as error:
            raise DnsError("%s; to follow the CNAME of %s, set resolver to a server that answers for it"
                           % (error.msg, name_text(name)), **error.details)
        rrset = _rrset(response, current, dns.rdatatype.CNAME)
        if rrset is None:
            return chain
        target = rrset[0].target
        if target in chain:
            raise DnsError("CNAME loop at %s: %s" % (name_text(name), " -> ".join(name_text(n) for n in chain + [target])))
        chain.append(target)
        if len(chain) > MAX_CNAME_HOPS:
            raise DnsError("the CNAME chain of %s is longer than %d names" % (name_text(name), MAX_CNAME_HOPS))
        current = target


def find_zone(server, name, zone=None):
    """The zone (apex name) that holds ``name`` at ``server``: the SOA owner in the answer or the authority
    section of an authoritative answer. With ``zone`` given, only check that the name lies in it."""
    if zone is not None:
        zone_name = to_name(zone, "zone")
        if not name.is_subdomain(zone_name):
            raise InputError("record %s is not in zone %s" % (name_text(name), name_text(zone_name)))
        return zone_name
    response = server.query(name, dns.rdatatype.SOA)
    _check_rcode(server, response, name, "SOA lookup")
    for section in (response.answer, response.authority):
        for rrset in section:
            if rrset.rdtype == dns.rdatatype.SOA and name.is_subdomain(rrset.name):
                if not response.flags & dns.flags.AA:
                    break
                return rrset.name
    cut = [name_text(r.name) for r in response.authority if r.rdtype == dns.rdatatype.NS]
    raise DnsError("DNS server %s is not authoritative for %s%s: give the primary of its zone as server"
                   % (server.label, name_text(name), " (it refers to the name servers of %s)" % cut[0] if cut else ""))


def read_rrset(server, name, rtype):
    """(ttl, [rdata]) of ``name``/``rtype`` in the server's own data ((None, []) when there is none). A CNAME at
    the name, for another type, is returned as ('CNAME', target) in place of the TTL."""
    rdtype = dns.rdatatype.from_text(rtype)
    response = server.query(name, rdtype)
    _check_rcode(server, response, name, "%s lookup" % rtype)
    rrset = _rrset(response, name, rdtype)
    if rrset is not None:
        if not response.flags & dns.flags.AA:
            raise DnsError("DNS server %s answered %s %s without authority: give the primary of its zone as server"
                           % (server.label, name_text(name), rtype))
        return rrset.ttl, list(rrset)
    if rdtype != dns.rdatatype.CNAME:
        cname = _rrset(response, name, dns.rdatatype.CNAME)
        if cname is not None:
            return "CNAME", [cname[0].target]
    return None, []


class RecordPlan:
    """One RRset: where it is written (after CNAMEs), what it holds, what it will hold, and the update lines."""

    def __init__(self, request, state, exclusive):
        self.request = request
        self.state = state
        self.exclusive = exclusive or request.rtype == "CNAME"
        self.chain = [request.name]
        self.name = request.name
        self.zone = None
        self.before_ttl = None
        self.before = []
        self.after = []
        self.ttl = None
        self.adds = []
        self.deletes = []
        self.delete_rrset = False

    @property
    def changed(self):
        return bool(self.adds or self.deletes or self.delete_rrset)

    def compute(self, before_ttl, before):
        """Fill in what changes, from what the primary holds now."""
        self.before_ttl, self.before = before_ttl, list(before)
        request = self.request
        current = dict((rdata_key(r), r) for r in self.before)
        wanted = request.keys()
        if self.state == "present":
            if not request.values:
                raise InputError("state=present for %s %s needs values" % (request.record, request.rtype))
            ttl_differs = request.ttl is not None and bool(self.before) and self.before_ttl != request.ttl
            self.ttl = request.ttl if request.ttl is not None else (self.before_ttl if self.before else DEFAULT_TTL)
            if self.exclusive:
                self.after = list(request.values)
                if set(current) != wanted or ttl_differs:
                    self.delete_rrset = bool(self.before)
                    self.adds = list(self.after)
            else:
                missing = [r for r in request.values if rdata_key(r) not in current]
                self.after = self.before + missing
                if ttl_differs:
                    # RFC 2181 §5.2: one TTL per RRset; replace the whole RRset (one message: atomic)
                    self.delete_rrset = True
                    self.adds = list(self.after)
                else:
                    self.adds = missing
        else:
            self.ttl = self.before_ttl
            if request.values:
                self.deletes = [current[k] for k in current if k in wanted]
                self.after = [r for k, r in current.items() if k not in wanted]
            else:
                self.delete_rrset = bool(self.before)
                self.after = []

    def add_to(self, update):
        if self.delete_rrset:
            update.delete(self.name, self.request.rtype)
        for rdata in self.deletes:
            update.delete(self.name, rdata)
        for rdata in self.adds:
            update.add(self.name, self.ttl, rdata)

    def expectation(self):
        """How an authoritative server shows that it has the new data: (mode, keys) with mode contains / equals /
        excludes / empty."""
        if self.state == "present":
            return ("equals" if self.exclusive else "contains"), self.request.keys()
        if self.request.values:
            return "excludes", self.request.keys()
        return "empty", set()

    def result(self):
        out = {
            "record": self.request.record,
            "name": name_text(self.name),
            "zone": name_text(self.zone) if self.zone is not None else None,
            "type": self.request.rtype,
            "before": [value_text(r) for r in self.before],
            "after": [value_text(r) for r in self.after],
            "ttl": self.ttl,
            "changed": self.changed,
        }
        if len(self.chain) > 1:
            out["cname_chain"] = [name_text(n) for n in self.chain]
        return out

    def lines(self, which):
        rdatas, ttl = (self.before, self.before_ttl) if which == "before" else (self.after, self.ttl)
        return [zone_line(self.name, ttl, r) for r in rdatas]


def plan_records(primary, requests, state="present", exclusive=False, follow_cname=True, resolver=None, zone=None):
    """Read every asked RRset at the primary and plan the change. ``resolver`` (default: the primary) is asked
    for the CNAME chains."""
    if state not in STATES:
        raise InputError("state %r is not one of %s" % (state, ", ".join(STATES)))
    plans = []
    for request in merge_requests(requests):
        plan = RecordPlan(request, state, exclusive)
        if follow_cname and request.rtype != "CNAME":
            plan.chain = cname_chain(resolver or primary, request.name)
            plan.name = plan.chain[-1]
        before_ttl, before = read_rrset(primary, plan.name, request.rtype)
        if before_ttl == "CNAME":
            raise DnsError("%s is a CNAME to %s: a %s record cannot sit beside it (RFC 1034 §3.6.2); set "
                           "follow_cname=true to write at the target"
                           % (name_text(plan.name), name_text(before[0]), request.rtype))
        plan.zone = find_zone(primary, plan.name, zone)
        plan.compute(before_ttl, before)
        plans.append(plan)
    return plans


def apply_plans(primary, key, plans, sent=None):
    """One UPDATE per zone with every change of that zone (RFC 2136 §3.4: applied atomically), then read back.
    Returns ``sent``: [{zone, server, records}] of the updates sent (appended as they go, so that a caller still
    knows what changed when a later zone fails)."""
    sent = [] if sent is None else sent
    zones = []
    for plan in plans:
        if plan.changed and plan.zone not in zones:
            zones.append(plan.zone)
    for zone in zones:
        update = dns.update.UpdateMessage(zone, keyring=key.dns_key)
        changes = [p for p in plans if p.zone == zone and p.changed]
        for plan in changes:
            plan.add_to(update)
        primary.send_update(update, zone, key.name)
        sent.append({"zone": name_text(zone), "server": primary.label, "records": len(changes)})
    for plan in plans:
        if plan.changed:
            verify(primary, plan)
    return sent


def verify(primary, plan):
    """Never fail silently: a server may accept an update and ignore part of it (RFC 2136 §3.4.2.2 ignores, for
    instance, any record added beside a CNAME)."""
    _ttl, now = read_rrset(primary, plan.name, plan.request.rtype)
    if _ttl == "CNAME":
        now = []
    got = set(rdata_key(r) for r in now)
    if got != set(rdata_key(r) for r in plan.after):
        raise DnsError("DNS server %s accepted the update of zone %s, but %s %s now reads %s instead of %s (the "
                       "server ignored part of it: a CNAME or other data at that name?)"
                       % (primary.label, name_text(plan.zone), name_text(plan.name), plan.request.rtype,
                          [value_text(r) for r in now], [value_text(r) for r in plan.after]),
                       zone=name_text(plan.zone))


def diff(plans):
    """Ansible's diff: the RRsets before and after, as zone-file lines."""
    return {
        "before": "".join(line + "\n" for plan in plans for line in plan.lines("before")),
        "after": "".join(line + "\n" for plan in plans for line in plan.lines("after")),
        "before_header": "DNS (%s)" % ", ".join(sorted(set(name_text(p.zone) for p in plans if p.zone is not None))),
        "after_header": "DNS",
    }


def requests_from(items, default_ttl=None):
    """RecordRequests from dicts (record, type, values, ttl); errors name the item."""
    out = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise InputError("records[%d] is not a dict" % index)
        unknown = set(item) - {"record", "type", "values", "ttl"}
        if unknown:
            raise InputError("records[%d] has unknown keys %s (known: record, type, values, ttl)"
                             % (index, ", ".join(sorted(unknown))))
        if not item.get("record") or not item.get("type"):
            raise InputError("records[%d] needs record and type" % index)
        ttl = item.get("ttl", default_ttl)
        out.append(RecordRequest(item["record"], item["type"], item.get("values"), ttl))
    return out


def ensure_records(primary, key, requests, state="present", exclusive=False, follow_cname=True, resolver=None,
                   zone=None, check_mode=False, wait=False, wait_timeout=DEFAULT_WAIT_TIMEOUT, nameservers=None,
                   port=None):
    """The whole change: plan, then (unless check mode) one update per zone, a read-back, and with ``wait`` the
    wait until every authoritative server of each zone answers the new data.

    Returns (result, plans); result is dict(changed, records=[per RRset], updates=[per zone sent], diff,
    propagation?). A DnsError raised after an update was sent carries changed, records and updates in its
    details, so that the failure still reports what changed."""
    plans = plan_records(primary, requests, state, exclusive, follow_cname, resolver, zone)
    result = {"changed": any(p.changed for p in plans), "records": [p.result() for p in plans], "updates": [],
              "diff": diff(plans)}
    if check_mode:
        return result, plans
    try:
        if result["changed"]:
            apply_plans(primary, key, plans, result["updates"])
        if wait:
            servers = servers_for(plans, primary, port or primary.port, resolver, nameservers,
                                  min(primary.timeout, 5.0))
            result["propagation"] = wait_until_served(servers, plans, wait_timeout)
    except DnsError as error:
        error.details.update(changed=bool(result["updates"]), records=result["records"], updates=result["updates"])
        raise
    return result, plans
