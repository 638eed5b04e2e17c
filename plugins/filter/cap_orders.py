# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: cap_orders
short_description: At most N certificates to order in this run, in a stable order
version_added: 0.2.0
description:
  - A step of the certificate role, as plain Python (plugins/plugin_utils/results.py) so that it is unit-tested.
options:
  _input:
    description: The due certificate plans (each with C(name)).
    type: raw
    required: true
  max_orders:
    description: The cap (0 - no cap).
    type: int
author:
  - certfleet.tls developers (@certfleet)
"""

EXAMPLES = r"""
- name: Use it
  ansible.builtin.set_fact:
    capped: "{{ due_plans | certfleet.tls.cap_orders(certificate_max_orders_per_run) }}"
"""

RETURN = r"""
_value:
  description: Two lists - the plans to order now (sorted by name) and the plans deferred to a later run.
  type: list
"""

from ansible_collections.certfleet.tls.plugins.plugin_utils import results
from ansible_collections.certfleet.tls.plugins.plugin_utils.filter_glue import as_filter

cap_orders = as_filter(results.cap_orders)


class FilterModule:
    def filters(self):
        return {"cap_orders": cap_orders}
