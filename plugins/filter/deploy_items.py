# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: deploy_items
short_description: The certificate_deploy batch of a host
version_added: 0.2.0
description:
  - A step of the certificate role, as plain Python (plugins/plugin_utils/results.py) so that it is unit-tested.
options:
  _input:
    description: The C(orders) of the second M(certfleet.tls.acme_order) step (issued certificates).
    type: raw
    required: true
  orders:
    description: The C(orders) of the first step (for the challenge tokens to remove).
    type: list
  host_plan:
    description: The host's C(certificate_prepare) result.
    type: dict
author:
  - certfleet.tls developers (@certfleet)
"""

EXAMPLES = r"""
- name: Use it
  ansible.builtin.set_fact:
    items: "{{ second_step.orders | certfleet.tls.deploy_items(first_step.orders, plan) }}"
"""

RETURN = r"""
_value:
  description: One item per issued certificate of the host - C(certificate_dir), C(cert), C(chain), C(webroot), C(challenge_tokens), C(verify_server_name).
  type: list
"""

from ansible_collections.certfleet.tls.plugins.plugin_utils import results
from ansible_collections.certfleet.tls.plugins.plugin_utils.filter_glue import as_filter

deploy_items = as_filter(results.deploy_items)


class FilterModule:
    def filters(self):
        return {"deploy_items": deploy_items}
