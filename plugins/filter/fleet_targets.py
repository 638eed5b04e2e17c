# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.certfleet.tls.plugins.module_utils.errors import CertfleetError
from ansible_collections.certfleet.tls.plugins.module_utils._tls.keys import normalize_domains
from ansible_collections.certfleet.tls.plugins.module_utils._tls.targets import certificate_name, verify_target

DOCUMENTATION = r"""
name: fleet_targets
short_description: TLS verification targets for a list of inventory hosts
version_added: 0.1.0
description:
  - Builds the O(certfleet.tls.tls_verify#module:targets) list of M(certfleet.tls.tls_verify) from inventory
    variables, one entry per host and domain (C(ansible_host) or the host name as address).
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


def _domains(raw):
    """Normalized names, as the decide step sees them; the raw list when it cannot be normalized (a report
    should still show what the inventory says)."""
    try:
        return normalize_domains(raw)
    except CertfleetError:
        return list(raw)


def fleet_targets(hosts, hostvars, all_domains=False):
    targets = []
    for host in hosts:
        host_vars = hostvars[host]
        domains = _domains(host_vars.get("certificate_domains") or [])
        name = certificate_name(domains, host_vars.get("certificate_name"))
        address = host_vars.get("certificate_address") or host_vars.get("ansible_host") or host
        port = host_vars.get("certificate_verify_port") or 443
        for index in range(len(domains) if all_domains else min(len(domains), 1)):
            targets.append(verify_target(host, name, address, domains[index:], port))
    return targets


class FilterModule:
    def filters(self):
        return {"fleet_targets": fleet_targets}
