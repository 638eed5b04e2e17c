# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: attach_staples
short_description: The certificate deploy items, each with its new certificate's verified OCSP staple
version_added: 0.3.0
description:
  - A step of the certificate role, as plain Python (plugins/plugin_utils/staples.py) so that it is unit-tested.
  - Adds C(ocsp_response) to each item of M(certfleet.tls.certificate_deploy) whose certificate got a verified
    C(good) staple right after issuance; an item without one is deployed without a staple, never with another's.
options:
  _input:
    description: The deploy items (M(certfleet.tls.deploy_items#filter)).
    type: list
    required: true
  fetched:
    description: The C(results) of the M(certfleet.tls.ocsp_stapling) loop over the issued orders (C(item) holds C(cert)).
    type: list
author:
  - certfleet.tls developers (@certfleet)
"""

EXAMPLES = r"""
- name: Use it
  ansible.builtin.set_fact:
    items: "{{ deploy_items | certfleet.tls.attach_staples(new_staples.results) }}"
"""

RETURN = r"""
_value:
  description: The deploy items, with C(ocsp_response) where a good staple was fetched.
  type: list
"""

from ansible_collections.certfleet.tls.plugins.plugin_utils import staples
from ansible_collections.certfleet.tls.plugins.plugin_utils.filter_glue import as_filter

attach_staples = as_filter(staples.attach_staples)


class FilterModule:
    def filters(self):
        return {"attach_staples": attach_staples}
