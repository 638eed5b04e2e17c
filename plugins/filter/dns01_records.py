# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: dns01_records
short_description: The TXT records of the dns-01 orders
version_added: 0.2.0
description:
  - A step of the certificate role, as plain Python (plugins/plugin_utils/results.py) so that it is unit-tested.
options:
  _input:
    description: The C(orders) of the first M(certfleet.tls.acme_order) step.
    type: raw
    required: true
author:
  - certfleet.tls developers (@certfleet)
"""

EXAMPLES = r"""
- name: Use it
  ansible.builtin.set_fact:
    records: "{{ first_step.orders | certfleet.tls.dns01_records }}"
"""

RETURN = r"""
_value:
  description: Items with C(record), C(type=TXT) and C(values), merged per name, for M(certfleet.tls.dns_record).
  type: list
"""

from ansible_collections.certfleet.tls.plugins.plugin_utils import results
from ansible_collections.certfleet.tls.plugins.plugin_utils.filter_glue import as_filter

dns01_records = as_filter(results.dns01_records)


class FilterModule:
    def filters(self):
        return {"dns01_records": dns01_records}
