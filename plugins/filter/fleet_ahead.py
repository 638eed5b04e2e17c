# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: fleet_ahead
short_description: Every host's orders placed ahead, computed once for the play
version_added: 0.3.0
description:
  - The C(ahead_orders) of each host's M(certfleet.tls.certificate_prepare) - the orders placed for its
    certificates before the decide step. Failed orders are left out (they are ordered after the decide step).
options:
  _input:
    description: The items of P(certfleet.tls.order_ahead_plans#filter).
    type: list
    elements: dict
    required: true
  placed:
    description: The result of the M(certfleet.tls.acme_order) step that placed them.
    type: dict
    required: true
notes:
  - A step of the certificate role, as plain Python (plugins/plugin_utils/results.py) so that it is unit-tested.
  - Computed once per play (a C(run_once) set_fact) and read by each host by its name.
author:
  - certfleet.tls developers (@certfleet)
"""

EXAMPLES = r"""
- name: Use it
  ansible.builtin.set_fact:
    fleet_ahead: "{{ ahead_plans | certfleet.tls.fleet_ahead(ahead_order) }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: "C({host: [order, ...]}); hosts without an order placed ahead are left out."
  type: dict
"""

from ansible_collections.certfleet.tls.plugins.plugin_utils import results
from ansible_collections.certfleet.tls.plugins.plugin_utils.filter_glue import as_filter

fleet_ahead = as_filter(results.fleet_ahead)


class FilterModule:
    def filters(self):
        return {"fleet_ahead": fleet_ahead}
