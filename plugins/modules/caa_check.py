#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: caa_check
short_description: Check before ordering that CAA records (RFC 8659) let the CA issue for every name
version_added: 0.2.0
description:
  - Runs on the control node (C(delegate_to=localhost)) before any order, for every challenge type. A name whose
    CAA records name no issuer of the CA fails here. The failure names the record and the CA, so the refusal does
    not cost an order and a failed authorization at the CA.
  - For each name it looks up the relevant CAA RRset as a CA does (RFC 8659 section 3). That is the CAA records at the
    name, else at its parent, climbing to the top-level domain, with CNAMEs followed. A wildcard is looked up at
    its base name, and its C(issuewild) properties, when there are any, replace the C(issue) properties.
  - The CA's issuer domain names come from its directory (C(meta.caaIdentities), RFC 8555 section 7.1.1). When
    the directory lists none (Pebble, some private CAs), O(caa_identities) is used, and RV(identities_source)
    says so.
  - The parameters of RFC 8657 are checked when the module knows what they are matched against. C(validationmethods)
    is checked against O(challenge_type), and C(accounturi) against O(account_uri).
  - Nothing is changed, so it runs in check mode too.
  - Its action plugin runs this code inside Ansible's worker on the control node, not as a separate Python
    process; the task's host and connection are not used (plugins/plugin_utils/worker_module.py).
author:
  - certfleet.tls developers (@certfleet)
options:
  domains:
    description: The names of the certificate (wildcards allowed).
    type: list
    elements: str
    required: true
  acme_directory:
    description:
      - The CA's ACME directory (URL or one of the aliases of M(certfleet.tls.acme_order)), read for its
        C(meta.caaIdentities). It is one GET request, and no account is needed.
      - Without it, O(caa_identities) must be given.
    type: str
  acme_ca_bundle:
    description: CA bundle to trust for the directory's HTTPS (a test CA such as Pebble).
    type: path
  caa_identities:
    description:
      - The issuer domain names of the CA as its CAA records use them (for Let's Encrypt, V(letsencrypt.org)).
      - They are used when the directory lists no C(caaIdentities), or when no O(acme_directory) is given. When the
        directory lists them, the directory wins and a warning says this option was not used.
    type: list
    elements: str
  challenge_type:
    description: The challenge type of the order, checked against C(validationmethods) parameters (RFC 8657 section 4).
    type: str
    choices: [http-01, dns-01]
  account_uri:
    description: The ACME account URL, checked against C(accounturi) parameters (RFC 8657 section 3).
    type: str
  resolver:
    description:
      - The resolver to ask (an address); it must resolve recursively. The default is the first resolver in
        C(/etc/resolv.conf).
    type: str
  resolver_port:
    description: Port of O(resolver).
    type: int
    default: 53
  timeout:
    description: Seconds to wait for each answer (and for the directory).
    type: float
    default: 10
  fail_on_forbidden:
    description:
      - Fail when CAA forbids the CA for any name. With V(false), the result lists them in RV(forbidden) and the
        task succeeds, so a fleet play can drop only the hosts concerned.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Only reads DNS and the directory, in check mode as well.
extends_documentation_fragment:
  - certfleet.tls.controller_module
requirements:
  - dnspython on the control node
seealso:
  - module: certfleet.tls.dns_record
  - module: certfleet.tls.acme_order
"""

EXAMPLES = r"""
- name: CAA preflight before the order
  certfleet.tls.caa_check:
    domains: [www.example.org, "*.example.org"]
    acme_directory: letsencrypt
  delegate_to: localhost

- name: Against Pebble, whose directory lists no caaIdentities
  certfleet.tls.caa_check:
    domains: "{{ certificate_domains }}"
    acme_directory: https://127.0.0.1:14000/dir
    acme_ca_bundle: /tmp/certfleet/rig/pebble/ca.pem
    caa_identities: [pebble.letsencrypt.org]
    resolver: 127.0.0.1
    resolver_port: 5053
    fail_on_forbidden: false
  delegate_to: localhost
  register: caa
"""

RETURN = r"""
allowed:
  description: Whether CAA lets the CA issue for every name.
  returned: always
  type: bool
forbidden:
  description: The names CAA forbids the CA to issue for.
  returned: always
  type: list
  elements: str
identities:
  description: The CA's issuer domain names the records were matched against.
  returned: always
  type: list
  elements: str
identities_source:
  description:
    - Where RV(identities) come from, V(directory) (C(meta.caaIdentities)), V(option) (O(caa_identities)), or V(none)
      (neither - only names without a restricting CAA record are allowed).
  returned: always
  type: str
ca:
  description: The directory URL read, or null.
  returned: always
  type: str
acme_session:
  description:
    - The directory this call read, in the form of M(certfleet.tls.acme_order)'s O(certfleet.tls.acme_order#module:acme_session),
      so that the order step of the same run reuses it instead of sending its own directory request (the protocol
      minimum is one directory request per run, RFC 8555 section 7.1.1). Nothing in it is secret.
    - Null when no O(acme_directory) is given.
  returned: always
  type: dict
results:
  description: One entry per name, in input order.
  returned: always
  type: list
  elements: dict
  contains:
    domain:
      description: The name.
      type: str
    caa_owner:
      description: Where the relevant CAA RRset was found (the name or a parent), or null when there is none.
      type: str
    records:
      description: The relevant CAA records, in presentation format.
      type: list
      elements: str
    property:
      description: The property that decided (V(issue) or V(issuewild)), or null when CAA does not restrict issuance.
      type: str
    allowed:
      description: Whether the CA may issue for this name.
      type: bool
    matched:
      description: The record that names the CA, when one does.
      type: str
    reason:
      description: Why, naming the record and the CA's identities.
      type: str
"""

import json
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.urls import open_url
from ansible_collections.certfleet.tls.plugins.module_utils import _glue
from ansible_collections.certfleet.tls.plugins.module_utils._acme.directory import resolve_directory
from ansible_collections.certfleet.tls.plugins.module_utils.errors import AcmeUnavailable

try:
    from ansible_collections.certfleet.tls.plugins.module_utils._dns import caa, client
    DNS_IMPORT_ERROR = None if client.HAS_DNSPYTHON else "No module named 'dns'"
except ImportError:
    DNS_IMPORT_ERROR = traceback.format_exc()


def read_directory(url, ca_bundle, timeout):
    """The CA's directory (RFC 8555 §7.1.1), as JSON."""
    try:
        response = open_url(url, ca_path=ca_bundle, timeout=timeout, validate_certs=True,
                            headers={"Accept": "application/json"})
        directory = json.loads(response.read())
    except Exception as error:  # pylint: disable=broad-except
        # urllib, ssl, socket and JSON errors alike: the CA's directory is unusable
        raise AcmeUnavailable("the directory of the CA at %s cannot be read for its caaIdentities: %s%s"
                              % (url, error, "" if ca_bundle else " (a test CA needs acme_ca_bundle)"))
    if not isinstance(directory, dict):
        raise AcmeUnavailable("the directory of the CA at %s is not a JSON object" % url)
    return directory


def directory_identities(directory):
    """meta.caaIdentities of the CA's directory (RFC 8555 §7.1.1); [] when it lists none."""
    identities = (directory.get("meta") or {}).get("caaIdentities") or []
    return [i for i in identities if isinstance(i, str)]


def identities_for(call, directory, url):
    """(identities, source): the directory's caaIdentities, else the caa_identities option."""
    p = call.params
    listed = directory_identities(directory) if directory else []
    if listed:
        if p["caa_identities"] and set(p["caa_identities"]) != set(listed):
            call.module.warn("caa_identities %s not used: the directory of %s lists caaIdentities %s"
                             % (p["caa_identities"], url, listed))
        return listed, "directory"
    if not p["caa_identities"]:
        # Without identities a name with no CAA record is still allowed (RFC 8659 section 4: no record, no
        # restriction); only a restricting record cannot be matched, and that name is reported as forbidden.
        where = "the directory of %s lists no meta.caaIdentities" % url if url else "no acme_directory is given"
        call.module.warn("%s and caa_identities is not set: a CAA record that restricts issuance cannot be matched "
                         "to this CA (for Let's Encrypt: letsencrypt.org)" % where)
        return [], "none"
    return list(p["caa_identities"]), "option"


def check(call):
    """The module's work: the CA's identities, then the CAA lookups (see _glue.run_module for errors)."""
    p = call.params
    url = resolve_directory(p["acme_directory"]) if p["acme_directory"] else None
    directory = read_directory(url, p["acme_ca_bundle"], p["timeout"]) if url else None
    identities, source = identities_for(call, directory, url)
    if p["resolver"]:
        resolver = client.Nameserver(p["resolver"], p["resolver_port"], timeout=p["timeout"], recursion=True)
    else:
        resolver = client.Nameserver.system_resolver(timeout=p["timeout"])
    results = caa.check_caa(resolver, p["domains"], identities, p["challenge_type"], p["account_uri"])
    forbidden = [r["domain"] for r in results if not r["allowed"]]
    out = dict(changed=False, allowed=not forbidden, forbidden=forbidden, identities=identities,
               identities_source=source, ca=url, results=results,
               # acme_order's session form (certfleet.tls.acme_order acme_session): its first step then sends
               # no directory request of its own.
               acme_session=dict(directory_url=url, directory=directory, nonces=[]) if url else None)
    if forbidden and p["fail_on_forbidden"]:
        ca_label = "the CA at %s (%s)" % (url, ", ".join(identities)) if url else "the CA (%s)" % ", ".join(identities)
        out.update(failed=True, msg=caa.forbidden_message(results, ca_label))
    return out


def module_kwargs():
    """The AnsibleModule arguments, shared with the action plugin that runs this module in Ansible's worker."""
    return dict(
        argument_spec=dict(
            domains=dict(type="list", elements="str", required=True),
            acme_directory=dict(type="str"),
            acme_ca_bundle=dict(type="path"),
            caa_identities=dict(type="list", elements="str"),
            challenge_type=dict(type="str", choices=["http-01", "dns-01"]),
            account_uri=dict(type="str"),
            resolver=dict(type="str"),
            resolver_port=dict(type="int", default=53),
            timeout=dict(type="float", default=10),
            fail_on_forbidden=dict(type="bool", default=True),
        ),
        required_one_of=[("acme_directory", "caa_identities")],
        supports_check_mode=True,
    )


def run(module):
    if DNS_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("dnspython (on the control node)"), exception=DNS_IMPORT_ERROR)
    _glue.run_module(module, check, acme_requests=False, requires_acme=False)


def main():
    run(AnsibleModule(**module_kwargs()))


if __name__ == "__main__":
    main()
