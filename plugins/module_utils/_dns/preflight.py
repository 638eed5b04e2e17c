# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dns-01 preflight: before the CA is contacted, prove that the zone takes our signed update and that every
authoritative server answers for the challenge name, with a probe TXT record that is removed afterwards.

What it catches, each with a message that names the zone, the server or the key: a wrong key name or secret
(BADKEY/BADSIG), a key that may not update the zone (REFUSED), a server that is not the zone's primary, a CNAME
delegation that points nowhere, and name servers that do not serve the zone (lame) or lag behind the primary.
"""

from __future__ import annotations

import secrets
import time

from .client import DnsError
from .propagation import DEFAULT_WAIT_TIMEOUT, servers_for, wait_until_served
from .records import RecordRequest
from .update import apply_plans, plan_records

PROBE_PREFIX = "certfleet-probe-"


def challenge_record(domain):
    """RFC 8555 §8.4: the dns-01 TXT record of a name (a wildcard's is its base name's)."""
    domain = domain.strip().rstrip(".")
    if domain.startswith("*."):
        domain = domain[2:]
    return "_acme-challenge." + domain


def probe(primary, key, records, resolver=None, zone=None, port=None, nameservers=None,
          wait_timeout=DEFAULT_WAIT_TIMEOUT, check_mode=False, token=None, clock=time.monotonic, sleep=time.sleep):
    """Add a unique TXT value at each record (CNAMEs followed), wait until every authoritative server answers it,
    then remove it, whatever happened. Check mode reads only (CNAME chains, zones, NS) and sends no update.

    Returns dict(records=[per record: record, name, zone, cname_chain?], servers, unchecked, seconds, value,
    check_mode). Raises DnsError (TsigRefused, PropagationTimeout) naming what failed."""
    value = token or PROBE_PREFIX + secrets.token_hex(8)
    requests = [RecordRequest(r, "TXT", [value]) for r in records]
    plans = plan_records(primary, requests, "present", False, True, resolver, zone)
    out = {"records": [{k: v for k, v in p.result().items() if k in ("record", "name", "zone", "cname_chain")}
                       for p in plans],
           "value": value, "check_mode": bool(check_mode)}
    if check_mode:
        out.update(servers=[], unchecked=[], seconds=0.0)
        return out
    start = clock()
    placed = False
    failure = None
    try:
        apply_plans(primary, key, plans)
        placed = True
        waited = wait_until_served(servers_for(plans, primary, port or primary.port, resolver, nameservers,
                                               min(primary.timeout, 5.0)),
                                   plans, wait_timeout, clock=clock, sleep=sleep)
        out.update(servers=waited["servers"], unchecked=waited["unchecked"])
    except DnsError as error:
        failure = error
        raise
    finally:
        if placed:
            _remove(primary, key, records, value, resolver, zone, failure)
    out["seconds"] = round(clock() - start, 3)
    return out


def _remove(primary, key, records, value, resolver, zone, failure):
    """Take the probe value out again. A removal that fails is reported, never swallowed; when the probe itself
    failed, that error stays the one raised and the leftover is added to its message."""
    try:
        plans = plan_records(primary, [RecordRequest(r, "TXT", [value]) for r in records], "absent", False, True,
                             resolver, zone)
        apply_plans(primary, key, plans)
    except DnsError as error:
        left = "the probe TXT %r could not be removed from %s: %s" % (
            value, ", ".join(records), error.msg)
        if failure is not None:
            failure.msg = "%s; and %s" % (failure.msg, left)
            failure.args = (failure.msg,)
            return
        raise DnsError(left, **error.details)
