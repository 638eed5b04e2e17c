# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: host_results
short_description: certificate_results entries of a host
version_added: 0.2.0
description:
  - A step of the certificate role, as plain Python (plugins/plugin_utils/results.py) so that it is unit-tested.
options:
  _input:
    description: The host's C(certificate_prepare) result.
    type: raw
    required: true
  issued:
    description: The C(orders) of the second step.
    type: list
  deployed:
    description: The host's M(certfleet.tls.certificate_deploy) result.
    type: dict
  verified:
    description: The M(certfleet.tls.tls_verify) results.
    type: list
  failure:
    description: The host's failure message, if it failed.
    type: str
  request:
    description: What the request says, used when the decide step failed before returning anything.
    type: dict
  deferred:
    description: Names of the certificates deferred by the per-run order cap.
    type: list
  excluded:
    description: Certificate name to message, for certificates ruled out before the order.
    type: dict
author:
  - certfleet.tls developers (@certfleet)
"""

EXAMPLES = r"""
- name: Use it
  ansible.builtin.set_fact:
    results: "{{ plan | certfleet.tls.host_results(issued=second_step.orders) }}"
"""

RETURN = r"""
_value:
  description:
    - One entry per certificate - name, dir, domains, due, code, reason, changed, serial, not_after, verified,
      verify_error, served_serial, failed, msg.
  type: list
"""

from ansible_collections.certfleet.tls.plugins.plugin_utils import results
from ansible_collections.certfleet.tls.plugins.plugin_utils.filter_glue import as_filter

host_results = as_filter(results.host_results)


class FilterModule:
    def filters(self):
        return {"host_results": host_results}
