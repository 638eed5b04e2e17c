# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wait until every authoritative server of a zone answers the new data, within a bounded time.

The CA asks any of the zone's name servers (through its resolver): a secondary that has not yet transferred the
new serial fails the dns-01 validation. So the wait asks each server of the zone's NS RRset, without recursion,
and names the servers that still lag when the time is up.
"""

from __future__ import annotations

import socket
import time

try:
    import dns.flags
    import dns.rcode
    import dns.rdatatype
except ImportError:  # pragma: no cover
    pass

from ..errors import InputError
from .client import DnsError, Nameserver, PropagationTimeout, is_unreachable, name_text
from .records import rdata_key, value_text

DEFAULT_WAIT_TIMEOUT = 120.0


def _addresses(name, primary, resolver):
    """IPv4 and IPv6 addresses of a name server's name: from the primary (in-zone glue), else the resolver, else
    the system's resolver."""
    found = []
    for server in [s for s in (primary, resolver) if s is not None]:
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            try:
                response = server.query(name, rdtype)
            except DnsError:
                continue
            if response.rcode() != dns.rcode.NOERROR:
                continue
            for rrset in response.answer:
                if rrset.rdtype == rdtype:
                    found.extend(r.address for r in rrset if r.address not in found)
        if found:
            return found
    try:
        infos = socket.getaddrinfo(name.to_text(), None, 0, socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError):
        return []
    for info in infos:
        if info[4][0] not in found:
            found.append(info[4][0])
    return found


def zone_nameservers(primary, zone, port=53, resolver=None, timeout=5.0):
    """Nameservers (one per address) of the zone's NS RRset, read at the primary. A name server whose address
    cannot be found is returned with ``address=None`` so that the wait names it instead of skipping it."""
    response = primary.query(zone, dns.rdatatype.NS)
    ns_rrset = None
    for rrset in response.answer:
        if rrset.name == zone and rrset.rdtype == dns.rdatatype.NS:
            ns_rrset = rrset
    if ns_rrset is None or not response.flags & dns.flags.AA:
        raise DnsError("DNS server %s gives no authoritative NS records for zone %s (%s)"
                       % (primary.label, name_text(zone), dns.rcode.to_text(response.rcode())))
    servers = []
    for ns in sorted(r.target for r in ns_rrset):
        addresses = _addresses(ns, primary, resolver)
        if not addresses:
            servers.append((name_text(ns), None))
        for address in addresses:
            servers.append((name_text(ns), Nameserver(address, port, timeout=timeout,
                                                      label="%s (%s)" % (name_text(ns), _hostport(address, port)))))
    return servers


def _hostport(address, port):
    return "[%s]:%d" % (address, port) if ":" in address else "%s:%d" % (address, port)


def explicit_nameservers(specs, default_port, timeout=5.0):
    """Nameservers from "address", "address:port" or "[v6]:port" strings (the nameservers option)."""
    out = []
    for spec in specs:
        spec = str(spec).strip()
        address, port = spec, default_port
        if spec.startswith("["):
            address, _sep, rest = spec[1:].partition("]")
            if rest.startswith(":"):
                port = rest[1:]
        elif spec.count(":") == 1:
            address, port = spec.split(":")
        try:
            port = int(port)
        except ValueError:
            raise InputError("nameserver %r: port %r is not a number" % (spec, port))
        out.append((address, Nameserver(address, port, timeout=timeout)))
    return out


def answers(server, plan):
    """None when ``server`` answers what the plan expects, else a short reason (what it answers instead)."""
    mode, keys = plan.expectation()
    response = server.query(plan.name, dns.rdatatype.from_text(plan.request.rtype))
    rcode = response.rcode()
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return "answers %s for %s" % (dns.rcode.to_text(rcode), name_text(plan.name))
    got = []
    for rrset in response.answer:
        if rrset.name == plan.name and rrset.rdtype == dns.rdatatype.from_text(plan.request.rtype):
            got = list(rrset)
    have = set(rdata_key(r) for r in got)
    ok = {"contains": keys <= have, "equals": keys == have, "excludes": not keys & have, "empty": not have}[mode]
    if ok:
        return None
    shown = [value_text(r) for r in got] or "nothing"
    return "answers %s %s: %s" % (name_text(plan.name), plan.request.rtype, shown)


def wait_until_served(servers_by_zone, plans, timeout=DEFAULT_WAIT_TIMEOUT, clock=time.monotonic, sleep=time.sleep):
    """Poll every server of every touched zone until it answers every plan of its zone, or raise
    PropagationTimeout naming the servers that lag and what they answer.

    ``servers_by_zone``: {zone Name: [(ns name, Nameserver or None)]}. Returns dict(servers, unchecked, seconds).
    An address this control node cannot reach at all (no IPv6 route) is reported in ``unchecked``, not waited for.
    """
    start = clock()
    deadline = start + float(timeout)
    pending = {}
    missing_address = []
    for zone, servers in servers_by_zone.items():
        zone_plans = [p for p in plans if p.zone == zone]
        for ns_name, server in servers:
            if server is None:
                missing_address.append("%s (zone %s): its address cannot be found" % (ns_name, name_text(zone)))
                continue
            pending[server.label] = (server, zone_plans, None)
    if missing_address:
        raise PropagationTimeout("cannot check every authoritative server: %s" % "; ".join(missing_address),
                                 lagging=missing_address)
    done, unchecked = [], []
    delay = 0.1
    while True:
        for label in list(pending):
            server, zone_plans, _last = pending[label]
            reason = None
            try:
                for plan in zone_plans:
                    reason = answers(server, plan)
                    if reason:
                        break
            except DnsError as error:
                if is_unreachable(error):
                    unchecked.append("%s: %s" % (label, error.msg))
                    del pending[label]
                    continue
                reason = error.msg
            if reason is None:
                done.append(label)
                del pending[label]
            else:
                pending[label] = (server, zone_plans, reason)
        if not pending:
            if not done:
                raise PropagationTimeout("no authoritative server could be reached from this control node: %s"
                                         % "; ".join(unchecked), lagging=unchecked)
            return {"servers": sorted(done), "unchecked": unchecked, "seconds": round(clock() - start, 3)}
        if clock() + delay > deadline:
            lagging = ["%s %s" % (label, pending[label][2]) for label in sorted(pending)]
            raise PropagationTimeout("%d of %d authoritative servers still lag after %.0f s: %s"
                                     % (len(pending), len(pending) + len(done), float(timeout), "; ".join(lagging)),
                                     lagging=sorted(pending), in_sync=sorted(done))
        sleep(delay)
        delay = min(2.0, delay * 1.5)


def servers_for(plans, primary, port, resolver=None, nameservers=None, timeout=5.0):
    """{zone: [(ns name, Nameserver)]} for the zones of ``plans``: the explicit ``nameservers`` for every zone, or
    each zone's NS RRset."""
    out = {}
    for plan in plans:
        if plan.zone in out:
            continue
        if nameservers:
            out[plan.zone] = explicit_nameservers(nameservers, port, timeout)
        else:
            out[plan.zone] = zone_nameservers(primary, plan.zone, port, resolver, timeout)
    return out
