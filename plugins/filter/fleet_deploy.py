# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: fleet_deploy
short_description: Every host's deploy batch, computed once for the play
version_added: 0.3.0
description:
  - A step of the certificate role, as plain Python (plugins/plugin_utils/results.py) so that it is unit-tested.
  - Computed once per play (a C(run_once) set_fact) and read by each host by its name, instead of being templated in
    every host's own task.
extends_documentation_fragment:
  - certfleet.tls.play_hosts
options:
  issued:
    description: The C(orders) of the second (finalize) M(certfleet.tls.acme_order) step.
    type: list
    elements: dict
    required: true
  orders:
    description: The C(orders) of the first M(certfleet.tls.acme_order) step (their challenge tokens are removed after deploy).
    type: list
    elements: dict
    required: true
  staples:
    description: The results of the M(certfleet.tls.ocsp_stapling) loop over the new certificates; a verified good staple is deployed with its certificate.
    type: list
    elements: dict
"""

EXAMPLES = r"""
- name: Use it
  ansible.builtin.set_fact:
    deploy: "{{ ansible_play_batch | certfleet.tls.fleet_deploy(hostvars, second_step.orders, first_step.orders, staples.results) }}"
  run_once: true
"""

RETURN = r"""
_value:
  description:
    - "C({host: [items]}): the M(certfleet.tls.certificate_deploy) C(certificates) of each host with a certificate the CA issued."
  type: dict
"""

from ansible_collections.certfleet.tls.plugins.plugin_utils import results
from ansible_collections.certfleet.tls.plugins.plugin_utils.filter_glue import as_filter

fleet_deploy = as_filter(results.fleet_deploy)


class FilterModule:
    def filters(self):
        return {"fleet_deploy": fleet_deploy}
