#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dns_record
short_description: Add or remove DNS records by RFC 2136 dynamic update signed with TSIG, and wait until they are served
version_added: 0.2.0
description:
  - Runs on the control node (C(delegate_to=localhost)) and sends RFC 2136 updates, signed with a TSIG key
    (RFC 8945), to the zone's primary name server. BIND, Knot, PowerDNS and many managed DNS services accept them.
  - Handles TXT (dns-01 challenges), TLSA (DANE), CAA, A, AAAA and CNAME records.
  - Idempotent. It reads every asked RRset at the primary first (without recursion) and sends nothing when the
    records already read as asked. The changes of one call are sent as one update per zone, which the server
    applies atomically (RFC 2136 section 3.4). Then it reads them back, and fails when the server ignored a part.
  - B(CNAME delegation). When a record's name is a CNAME (the C(_acme-challenge) delegation pattern), the record
    is written at the end of the CNAME chain, in the zone that holds that name. The TSIG key then only needs to
    update that zone. Set O(follow_cname=false) to refuse this instead.
  - With O(wait), the module waits until every authoritative server of each zone touched (its NS records,
    resolved) answers the new data. The wait is bounded by O(wait_timeout), and when it runs out the failure
    names the servers that lag and what they answer.
  - O(state=probe) is the dns-01 preflight, run before the CA is contacted. It adds a unique TXT value at each
    record (CNAMEs followed) and waits until every authoritative server answers it. It then removes the value
    whatever happened. It proves that the zone takes the key's updates and that its servers answer for the name.
    Nothing is left behind, so it reports C(changed=false).
author:
  - certfleet.tls developers (@certfleet)
options:
  server:
    description:
      - The primary name server of the zone, which takes the updates (an address or a host name).
      - The records are read here too, without recursion, for the idempotence check.
    type: str
    required: true
  port:
    description:
      - Port of O(server). It is also the port on which the zone's name servers are asked when O(wait) is set.
    type: int
    default: 53
  zone:
    description:
      - The zone to update. By default it is found from the primary's SOA answer for each record (after CNAMEs).
    type: str
  record:
    description:
      - Name of the record (single form), for example V(_acme-challenge.www.example.org). A name without a final
        dot is taken as absolute.
    type: str
  type:
    description: Record type (single form).
    type: str
    choices: [A, AAAA, CNAME, TXT, TLSA, CAA]
  values:
    description:
      - Values of the record (single form). TXT values are the text itself, unquoted; a value longer than 255 bytes
        is split into several strings (RFC 1035 section 3.3.14). Other types take the presentation format, for
        example C(3 1 1 0a1b...) (TLSA), C(0 issue "letsencrypt.org") (CAA) or C(target.example.org) (CNAME).
      - With O(state=absent), only these values are removed; without them, the whole RRset of O(type) is removed.
    type: list
    elements: str
  ttl:
    description:
      - TTL of the RRset (single form; the default for the items of O(records)). By default an existing RRset keeps
        its TTL, and a new one gets 300. One TTL per RRset (RFC 2181 section 5.2), so a different TTL replaces the
        whole RRset.
    type: int
  records:
    description:
      - List form, several RRsets in one call, with keys C(record), C(type), C(values) and optionally C(ttl). They
        are sent as one update per zone. Items with the same record and type are merged.
      - The RV(certfleet.tls.acme_order#module:orders[].dns_records) of a dns-01 order can be passed as they are.
    type: list
    elements: dict
  state:
    description:
      - V(present) adds the values that are missing (with O(exclusive), the RRset becomes exactly O(values)).
      - V(absent) removes the values, or the whole RRset when no values are given.
      - V(probe) is the dns-01 preflight described above; only the record names are used.
    type: str
    choices: [present, absent, probe]
    default: present
  exclusive:
    description:
      - With O(state=present), the RRset becomes exactly O(values) and other values are removed. By default other
        values stay, so concurrent dns-01 challenges for the same name do not remove each other's values.
      - A CNAME is always exclusive.
    type: bool
    default: false
  follow_cname:
    description:
      - Write a record whose name is a CNAME at the end of the CNAME chain. When this is off, a record asked beside a
        CNAME fails.
      - The chain is read at O(resolver), or at O(server) when no resolver is given.
    type: bool
    default: true
  resolver:
    description:
      - A resolver (address) to read CNAME chains from, and the name servers' addresses when they are not in the
        primary's zones. It is needed when O(server) is the primary of the delegated zone only and does not serve the
        name the CNAME is at.
    type: str
  resolver_port:
    description: Port of O(resolver).
    type: int
    default: 53
  tsig_key_name:
    description: Name of the TSIG key, as the server knows it. It is required with O(tsig_key_secret).
    type: str
  tsig_key_secret:
    description: The TSIG key's secret (base64, as C(tsig-keygen) prints it). Never logged.
    type: str
  tsig_key_file:
    description:
      - A BIND key file, in the format that C(tsig-keygen) writes and C(nsupdate -k) reads, for example
        C(key "acme-update" { algorithm hmac-sha256; secret "..."; };). Its algorithm is used. With several keys
        in the file, O(tsig_key_name) picks one.
    type: path
  tsig_algorithm:
    description: TSIG algorithm (RFC 8945 section 6), when O(tsig_key_secret) is given.
    type: str
    choices: [hmac-sha256, hmac-sha384, hmac-sha512, hmac-sha224, hmac-sha1, hmac-md5]
    default: hmac-sha256
  timeout:
    description: Seconds to wait for each answer of a name server.
    type: float
    default: 10
  wait:
    description:
      - Wait until every authoritative server of each zone touched answers the new data (or, for O(state=absent),
        no longer answers it). An unchanged record is checked too.
    type: bool
    default: false
  wait_timeout:
    description: Seconds the wait (and the probe of O(state=probe)) may take before the task fails naming the servers that lag.
    type: float
    default: 120
  nameservers:
    description:
      - The servers the wait asks, as C(address), C(address:port) or C([v6address]:port), instead of the NS records of
        each zone (for example the anycast addresses of a managed DNS service).
    type: list
    elements: str
attributes:
  check_mode:
    support: full
    description:
      - Reads the records (and CNAME chains and zones) and reports what would change. It sends no update and does not
        wait. O(state=probe) reads only.
  diff_mode:
    support: full
    description: Shows the RRsets before and after, as zone-file lines.
  platform:
    support: full
    platforms: posix
    description: Runs on the control node (C(delegate_to=localhost)); the managed hosts need nothing.
requirements:
  - dnspython on the control node
seealso:
  - module: certfleet.tls.acme_order
  - module: certfleet.tls.caa_check
"""

EXAMPLES = r"""
- name: The dns-01 records of an order (from acme_order's first step), placed and served by every name server
  certfleet.tls.dns_record:
    server: ns1.example.org
    tsig_key_name: acme-update
    tsig_key_secret: "{{ vault_acme_update_secret }}"
    records: "{{ order.dns_records }}"
    wait: true
  delegate_to: localhost

- name: Remove them again (only these values, whatever else the name holds)
  certfleet.tls.dns_record:
    server: ns1.example.org
    tsig_key_file: /etc/ansible/keys/acme-update.key
    records: "{{ order.dns_records }}"
    state: absent
  delegate_to: localhost

- name: Publish the DANE TLSA record of the served key (exactly this value)
  certfleet.tls.dns_record:
    server: ns1.example.org
    tsig_key_file: /etc/ansible/keys/zone-admin.key
    record: _443._tcp.www.example.org
    type: TLSA
    values: ["3 1 1 {{ verify.results[0].tlsa_3_1_1 }}"]
    exclusive: true
  delegate_to: localhost

- name: Allow only Let's Encrypt to issue for example.org
  certfleet.tls.dns_record:
    server: ns1.example.org
    tsig_key_file: /etc/ansible/keys/zone-admin.key
    record: example.org
    type: CAA
    values: ['0 issue "letsencrypt.org"']
    exclusive: true
  delegate_to: localhost

- name: dns-01 preflight, before any order (probe TXT record placed, checked on every name server, removed)
  certfleet.tls.dns_record:
    server: acme-dns.example.net
    tsig_key_file: /etc/ansible/keys/acme-delegated.key
    resolver: 192.0.2.53
    records:
      - record: _acme-challenge.www.example.org
    state: probe
  delegate_to: localhost
"""

RETURN = r"""
records:
  description: One entry per RRset asked (O(state=present) or O(state=absent)).
  returned: unless O(state=probe)
  type: list
  elements: dict
  contains:
    record:
      description: The name asked.
      type: str
    name:
      description: Where the record is (after CNAMEs).
      type: str
    cname_chain:
      description: The CNAME chain from RV(records[].record) to RV(records[].name), when there is one.
      type: list
      elements: str
      returned: when the name is a CNAME
    zone:
      description: The zone that holds it.
      type: str
    type:
      description: Record type.
      type: str
    before:
      description: Values before (TXT as text, others in presentation format).
      type: list
      elements: str
    after:
      description: Values after (or that there would be, in check mode).
      type: list
      elements: str
    ttl:
      description: TTL of the RRset after the change.
      type: int
    changed:
      description: Whether this RRset changed.
      type: bool
updates:
  description: The updates sent, one per zone (none when nothing changed or in check mode).
  returned: unless O(state=probe)
  type: list
  elements: dict
  contains:
    zone:
      description: Zone updated.
      type: str
    server:
      description: The primary that took the update.
      type: str
    records:
      description: RRsets changed by this update.
      type: int
propagation:
  description: The wait, when O(wait) is set (not in check mode).
  returned: when O(wait)
  type: dict
  contains:
    servers:
      description: The authoritative servers (name and address) that answer the new data.
      type: list
      elements: str
    unchecked:
      description: Addresses this control node cannot reach at all (no route, for example IPv6), not waited for.
      type: list
      elements: str
    seconds:
      description: How long the wait took.
      type: float
probe:
  description: The result of O(state=probe).
  returned: when O(state=probe)
  type: dict
  contains:
    records:
      description: Each probed name with where its record lands (record, name, zone, cname_chain).
      type: list
      elements: dict
    servers:
      description: The authoritative servers that answered the probe value.
      type: list
      elements: str
    unchecked:
      description: Addresses this control node cannot reach at all.
      type: list
      elements: str
    value:
      description: The probe TXT value (removed again).
      type: str
    seconds:
      description: How long the probe took.
      type: float
    check_mode:
      description: True when the probe only read (check mode).
      type: bool
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.certfleet.tls.plugins.module_utils import _glue

try:
    from ansible_collections.certfleet.tls.plugins.module_utils._dns import client, preflight, update
    DNS_IMPORT_ERROR = None if client.HAS_DNSPYTHON else "No module named 'dns'"
except ImportError:
    DNS_IMPORT_ERROR = traceback.format_exc()


def tsig_key(module):
    """The TSIG key from tsig_key_secret (+ name, algorithm) or a BIND key file; errors never show the secret."""
    p = module.params
    if p["tsig_key_file"]:
        try:
            with open(p["tsig_key_file"], "rb") as handle:
                text = handle.read().decode("utf-8", "replace")
        except (IOError, OSError) as error:
            raise _glue.InputError("tsig_key_file %s cannot be read: %s" % (p["tsig_key_file"], error.strerror))
        name, secret, algorithm = client.parse_bind_key_file(text, p["tsig_key_file"], p["tsig_key_name"])
        return client.TsigKey(name, secret, algorithm)
    if p["tsig_key_secret"]:
        return client.TsigKey(p["tsig_key_name"], p["tsig_key_secret"], p["tsig_algorithm"])
    raise _glue.InputError("a TSIG key is needed to update a zone: set tsig_key_file, or tsig_key_name and tsig_key_secret")


def requested(params):
    """The records of the call: the single form (record, type, values, ttl) or the list form (records)."""
    if params["records"] is not None:
        items = params["records"]
    else:
        items = [dict(record=params["record"], type=params["type"], values=params["values"])]
    if params["state"] == "probe":
        return [item.get("record") for item in items]
    for index, item in enumerate(items):
        if not item.get("type"):
            raise _glue.InputError("records[%d] (%s) has no type" % (index, item.get("record")))
    return update.requests_from(items, default_ttl=params["ttl"])


def place(call):
    """The module's work: plan and send the updates, or probe (see _glue.run_module for errors)."""
    p = call.params
    key = tsig_key(call.module)
    primary = client.Nameserver(p["server"], p["port"], timeout=p["timeout"])
    resolver = client.Nameserver(p["resolver"], p["resolver_port"], timeout=p["timeout"], recursion=True) \
        if p["resolver"] else None
    wanted = requested(p)
    if p["state"] == "probe":
        result = preflight.probe(primary, key, wanted, resolver=resolver, zone=p["zone"], port=p["port"],
                                 nameservers=p["nameservers"], wait_timeout=p["wait_timeout"],
                                 check_mode=call.check_mode)
        return dict(changed=False, probe=result)
    result, _plans = update.ensure_records(primary, key, wanted, p["state"], p["exclusive"], p["follow_cname"], resolver,
                                           p["zone"], call.check_mode, p["wait"], p["wait_timeout"], p["nameservers"],
                                           p["port"])
    out = dict(changed=result["changed"], records=result["records"], updates=result["updates"])
    if "propagation" in result:
        out["propagation"] = result["propagation"]
    if call.module._diff:
        out["diff"] = result["diff"]
    return out


def main():
    module = AnsibleModule(
        argument_spec=dict(
            server=dict(type="str", required=True),
            port=dict(type="int", default=53),
            zone=dict(type="str"),
            record=dict(type="str"),
            type=dict(type="str", choices=["A", "AAAA", "CNAME", "TXT", "TLSA", "CAA"]),
            values=dict(type="list", elements="str"),
            ttl=dict(type="int"),
            records=dict(type="list", elements="dict"),
            state=dict(type="str", default="present", choices=["present", "absent", "probe"]),
            exclusive=dict(type="bool", default=False),
            follow_cname=dict(type="bool", default=True),
            resolver=dict(type="str"),
            resolver_port=dict(type="int", default=53),
            tsig_key_name=dict(type="str"),
            tsig_key_secret=dict(type="str", no_log=True),
            tsig_key_file=dict(type="path"),
            tsig_algorithm=dict(type="str", default="hmac-sha256",
                                choices=["hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1",
                                         "hmac-md5"]),
            timeout=dict(type="float", default=10),
            wait=dict(type="bool", default=False),
            wait_timeout=dict(type="float", default=120),
            nameservers=dict(type="list", elements="str"),
        ),
        mutually_exclusive=[("records", "record"), ("records", "type"), ("records", "values"),
                            ("tsig_key_secret", "tsig_key_file")],
        required_one_of=[("records", "record"), ("tsig_key_secret", "tsig_key_file")],
        required_by={"tsig_key_secret": "tsig_key_name"},
        supports_check_mode=True,
    )
    if DNS_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("dnspython (on the control node)"), exception=DNS_IMPORT_ERROR)
    _glue.run_module(module, place, acme_requests=False, requires_acme=False)


if __name__ == "__main__":
    main()
