# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""DANE: the TLSA records the certificate role publishes for the keys it owns, and how the served key compares.

Only certificates whose keys live in the key store (key_policy ``reuse`` or ``pinned``) get records: their key
survives renewals, so a ``3 1 1`` record stays true. A key made fresh at every issuance would break the record at
every renewal, so those certificates get none.

What a TLSA RRset must hold so that no visitor is locked out (RFC 7671 section 8.1, "key rollover"):
- the active key, which the host serves or is about to serve;
- the backup key, published ahead of the rotation that will make it active;
- the key the host serves right now when it is neither (a rotation whose deploy failed, or has not run yet):
  until the new key is live, dropping it would fail every DANE client of the site.
"""

from __future__ import annotations

import base64

from ansible_collections.certfleet.tls.plugins.module_utils._tls.pins import _tlsa_owner
from ansible_collections.certfleet.tls.plugins.plugin_utils.requests import host_requests

# The order of the keys in a record set and in the output: active first.
ROLES = ("active", "backup", "served")


class DaneError(ValueError):
    """An input the operator must fix; the message names the host, the certificate and the key."""


def _pin_hex(pin, what):
    try:
        raw = base64.b64decode(pin, validate=True)
    except (TypeError, ValueError):
        raw = b""
    if len(raw) != 32:
        raise DaneError("%s: %r is not a pin-sha256 value (base64 of 32 bytes)" % (what, pin))
    return raw.hex()


def _ports(value, default, what):
    ports = value if value is not None else default
    if not isinstance(ports, (list, tuple)) or not ports:
        raise DaneError("%s: tlsa_ports must be a non-empty list of TCP ports (got %r)" % (what, ports))
    for port in ports:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise DaneError("%s: tlsa_ports must hold TCP ports 1-65535 (got %r)" % (what, port))
    return list(ports)


def _requests_by_name(hostvars, host):
    """The host's request items by name (for a per-certificate ``tlsa_ports``)."""
    try:
        return dict((item["name"], item) for item in host_requests(hostvars, host))
    except ValueError:
        return {}  # the decide step has already failed this host by name; its results carry the message


def certificate_keys(entry):
    """pin-sha256 by role for one certificate_results entry: active and backup from the store, and the served key
    when it is neither of them. Empty when the certificate's keys are not in the store."""
    pins = entry.get("pins") or {}
    if not pins.get("active"):
        return {}
    keys = {"active": pins["active"]}
    if pins.get("backup"):
        keys["backup"] = pins["backup"]
    served = entry.get("spki_sha256")
    if served and served not in keys.values():
        keys["served"] = served
    return keys


def tlsa_publication(hosts, hostvars, ttl=3600, default_ports=(443,), outcomes=None):
    """The TLSA RRsets to publish for the certificates of ``hosts``, read from their ``certificate_results``.

    ``outcomes``: the play's fleet_outcomes ({host: {"results": ...}}), whose results a host gets in the same task
    that may fail it, after this step; they win over its ``certificate_results`` (those of an earlier play, or of a
    host outside the current batch).

    Returns dict(records=[{record, type, values, ttl}], certificates=[{name, pins, served_extra, owners}],
    zone_lines=[...]). One RRset per owner name (``_<port>._tcp.<name>.``), the union over every host and
    certificate that serves the name (the backends of one certificate share its keys). Wildcard names get none
    (RFC 4592: ``_443._tcp.*.example.org`` matches nothing). Per certificate, ``tlsa_ports`` of its request item
    wins over ``default_ports`` (the host's certificate_tlsa_ports).
    """
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0:
        raise DaneError("certificate_tlsa_ttl must be seconds >= 0 (got %r)" % (ttl,))
    rrsets, owners_order, certificates = {}, [], {}
    outcomes = outcomes or {}
    for host in hosts:
        host_vars = hostvars[host]
        requests = None
        results = (outcomes[host] or {}).get("results") if host in outcomes else host_vars.get("certificate_results")
        for entry in results or []:
            keys = certificate_keys(entry)
            if not keys or entry.get("managed") is False:
                continue
            name = entry.get("name")
            if requests is None:
                requests = _requests_by_name(hostvars, host)
            what = "host %s, certificate %s" % (host, name)
            request = requests.get(name) or {}
            ports = _ports(request.get("tlsa_ports"),
                           host_vars.get("certificate_tlsa_ports", list(default_ports)), what)
            data = [(role, _pin_hex(keys[role], "%s, %s key" % (what, role))) for role in ROLES if role in keys]
            summary = certificates.setdefault(name, {"name": name, "pins": {}, "owners": [], "hosts": []})
            summary["hosts"].append(host)
            for role, pin in keys.items():
                if role != "served":
                    summary["pins"][role] = pin
                else:
                    summary.setdefault("served_outside_store", []).append({"host": host, "pin": pin})
            for domain in entry.get("domains") or []:
                if domain.startswith("*."):
                    continue
                for port in ports:
                    owner = _tlsa_owner(domain, port, "tcp")
                    if owner not in rrsets:
                        rrsets[owner] = []
                        owners_order.append(owner)
                    if owner not in summary["owners"]:
                        summary["owners"].append(owner)
                    for _role, hexdata in data:
                        value = "3 1 1 %s" % hexdata
                        if value not in rrsets[owner]:
                            rrsets[owner].append(value)
    records = [{"record": owner, "type": "TLSA", "values": rrsets[owner], "ttl": ttl} for owner in owners_order]
    zone_lines = ["%s %d IN TLSA %s" % (owner, ttl, value) for owner in owners_order for value in rrsets[owner]]
    # a certificate with no record (wildcard names only) has published nothing: the store must not count it
    published = [summary for summary in certificates.values() if summary["owners"]]
    return {"records": records, "certificates": published, "zone_lines": zone_lines}


def pin_role(pin, pins):
    """Which of the store's keys ``pin`` is: ``active``, ``backup``, ``neither`` (flag it), or None when the
    certificate has no keys in the store or nothing is served."""
    if not pin or not pins or not pins.get("active"):
        return None
    if pin == pins.get("active"):
        return "active"
    if pin == pins.get("backup"):
        return "backup"
    return "neither"
