# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: dns01_probe_records
short_description: The challenge names of the due dns-01 certificates
version_added: 0.2.0
description:
  - A step of the certificate role, as plain Python (plugins/plugin_utils/results.py) so that it is unit-tested.
options:
  _input:
    description: The due certificate plans.
    type: raw
    required: true
author:
  - certfleet.tls developers (@certfleet)
"""

EXAMPLES = r"""
- name: Use it
  ansible.builtin.set_fact:
    records: "{{ plans | certfleet.tls.dns01_probe_records }}"
"""

RETURN = r"""
_value:
  description: Items with C(record) (C(_acme-challenge.<name>)), for M(certfleet.tls.dns_record) with C(state=probe).
  type: list
"""

from ansible_collections.certfleet.tls.plugins.plugin_utils import results
from ansible_collections.certfleet.tls.plugins.plugin_utils.filter_glue import as_filter

dns01_probe_records = as_filter(results.dns01_probe_records)


class FilterModule:
    def filters(self):
        return {"dns01_probe_records": dns01_probe_records}
