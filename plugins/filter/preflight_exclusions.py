# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: preflight_exclusions
short_description: Due certificates that CAA or the dns-01 preflight rule out
version_added: 0.2.0
description:
  - A step of the certificate role, as plain Python (plugins/plugin_utils/results.py) so that it is unit-tested.
options:
  _input:
    description: The due certificate plans.
    type: raw
    required: true
  caa:
    description: The M(certfleet.tls.caa_check) result.
    type: dict
  dns_probe:
    description: The M(certfleet.tls.dns_record) probe result.
    type: dict
author:
  - certfleet.tls developers (@certfleet)
"""

EXAMPLES = r"""
- name: Use it
  ansible.builtin.set_fact:
    excluded: "{{ plans | certfleet.tls.preflight_exclusions(caa_result, dns_probe_result) }}"
"""

RETURN = r"""
_value:
  description: Certificate name to a message naming the CAA record and the CA, or the dns-01 preflight failure.
  type: dict
"""

from ansible_collections.certfleet.tls.plugins.plugin_utils import results
from ansible_collections.certfleet.tls.plugins.plugin_utils.filter_glue import as_filter

preflight_exclusions = as_filter(results.preflight_exclusions)


class FilterModule:
    def filters(self):
        return {"preflight_exclusions": preflight_exclusions}
