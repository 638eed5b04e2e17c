# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.certfleet.tls.plugins.module_utils._tls.targets import verify_target
from ansible_collections.certfleet.tls.plugins.plugin_utils.requests import RequestError, host_requests

DOCUMENTATION = r"""
name: fleet_targets
short_description: TLS verification targets for a list of inventory hosts
version_added: 0.1.0
description:
  - Builds the O(certfleet.tls.tls_verify#module:targets) list of M(certfleet.tls.tls_verify) from inventory
    variables, one entry per certificate of each host (C(certificate_requests), or the shorthand
    C(certificate_domains)), named like the certificate role names it; C(certificate_address), C(ansible_host)
    or the host name as address.
options:
  _input:
    description: Inventory host names.
    type: list
    elements: str
    required: true
  hostvars:
    description: The C(hostvars) magic variable.
    type: dict
    required: true
  all_domains:
    description: One target per domain of each host instead of its first domain only.
    type: bool
    default: false
author:
  - certfleet.tls developers (@certfleet)
"""

EXAMPLES = r"""
- name: Check what the fleet serves
  certfleet.tls.tls_verify:
    targets: "{{ ansible_play_hosts | certfleet.tls.fleet_targets(hostvars) }}"
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
_value:
  description: Targets with name, certificate, address, server_name and port.
  type: list
  elements: dict
"""


def fleet_targets(hosts, hostvars, all_domains=False):
    """One target per certificate of each host (certificate_requests, or the shorthand), its first domain as SNI;
    with ``all_domains``, one per domain."""
    targets = []
    for host in hosts:
        host_vars = hostvars[host]
        try:
            requests = host_requests(hostvars, host, missing_dir="-")
        except RequestError:
            continue  # a report shows what can be probed; the issue run names the error
        address = host_vars.get("certificate_address") or host_vars.get("ansible_host") or host
        port = host_vars.get("certificate_verify_port") or 443
        for request in requests:
            domains = request["domains"]
            for index in range(len(domains) if all_domains else 1):
                targets.append(verify_target(host, request["name"], address, domains[index:], port))
    return targets


class FilterModule:
    def filters(self):
        return {"fleet_targets": fleet_targets}
