# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: host_failures
short_description: Why a host's certificates did not go live
version_added: 0.2.0
description:
  - A step of the certificate role, as plain Python (plugins/plugin_utils/results.py) so that it is unit-tested.
options:
  _input:
    description: The host's C(certificate_prepare) result.
    type: raw
    required: true
  orders:
    description: The C(orders) of the first step.
    type: list
  issued:
    description: The C(orders) of the second step.
    type: list
  deployed:
    description: The host's M(certfleet.tls.certificate_deploy) result.
    type: dict
  deferred:
    description: Names of the certificates deferred by the per-run order cap (not failures).
    type: list
  excluded:
    description: Certificate name to message, for certificates ruled out before the order (CAA, dns-01 preflight).
    type: dict
author:
  - certfleet.tls developers (@certfleet)
"""

EXAMPLES = r"""
- name: Use it
  ansible.builtin.set_fact:
    failures: "{{ plan | certfleet.tls.host_failures(first_step.orders, second_step.orders, deployed) }}"
"""

RETURN = r"""
_value:
  description: One message per certificate that failed its preflight, its order, its validation or its deploy, naming the certificate.
  type: list
"""

from ansible_collections.certfleet.tls.plugins.plugin_utils import results
from ansible_collections.certfleet.tls.plugins.plugin_utils.filter_glue import as_filter

host_failures = as_filter(results.host_failures)


class FilterModule:
    def filters(self):
        return {"host_failures": host_failures}
