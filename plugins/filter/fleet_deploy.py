# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: fleet_deploy
short_description: Every host's deploy batch, computed once for the play
version_added: 0.3.0
description:
  - What each host's deploy installs (the certificates the CA issued for it, each with its staple).
extends_documentation_fragment:
  - certfleet.tls.play_hosts
  - certfleet.tls.fleet_step
options:
  issued:
    description: What the CA issued (the C(orders) of the finalize step of M(certfleet.tls.acme_order)); each host gets its own.
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
