# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: orders_to_finalize
short_description: Which orders may have their challenges answered
version_added: 0.2.0
description:
  - Splits the orders of the first M(certfleet.tls.acme_order) step into those whose challenge files reached
    every backend (C(finalize)) and the others (C(abandon)), for example because a host dropped out between
    the steps. Answering a challenge that a backend never got would be a failed validation charged to the
    account (Let's Encrypt allows 5 per account, hostname and hour).
options:
  _input:
    description: The C(orders) of the first acme_order step.
    type: list
    elements: dict
    required: true
  hostvars:
    description: The C(hostvars) magic variable (each host's C(__certificate_plan) and C(__certificate_push)).
    type: dict
    required: true
  hosts:
    description: Every host of the play (C(ansible_play_hosts_all)).
    type: list
    elements: str
    required: true
  active_hosts:
    description: The hosts still in the play (C(ansible_play_hosts)); a host that dropped out is not among them.
    type: list
    elements: str
    required: true
  dns_placed:
    description: Whether the dns-01 TXT records were placed (and propagated).
    type: bool
author:
  - certfleet.tls developers (@certfleet)
"""

EXAMPLES = r"""
- name: Orders to answer and to abandon
  ansible.builtin.set_fact:
    split: "{{ order.orders | certfleet.tls.orders_to_finalize(hostvars, ansible_play_hosts_all, ansible_play_hosts) }}"
"""

RETURN = r"""
_value:
  description: C(finalize) and C(abandon), two lists of orders.
  type: dict
"""

from ansible_collections.certfleet.tls.plugins.plugin_utils.results import orders_to_finalize


class FilterModule:
    def filters(self):
        return {"orders_to_finalize": orders_to_finalize}
