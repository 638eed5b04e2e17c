# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: staple_outcomes
short_description: What a web role does with each site's fetched OCSP staple
version_added: 0.3.0
description:
  - A step of the web roles, as plain Python (plugins/plugin_utils/staples.py) so that it is unit-tested.
  - Writes a verified good staple; removes the staple of a revoked or unknown certificate (never stapled) and
    fails the host naming the site; keeps a still valid staple through a responder outage (and fails the host,
    naming the site); turns stapling off, with a notice, for a certificate without an OCSP URL.
options:
  _input:
    description: The plans (M(certfleet.tls.staple_plan#filter)).
    type: list
    required: true
  fetched:
    description: The C(results) of the M(certfleet.tls.ocsp_stapling) loop over the C(fetch) plans (C(item) is the plan).
    type: list
author:
  - certfleet.tls developers (@certfleet)
"""

EXAMPLES = r"""
- name: Use it
  ansible.builtin.set_fact:
    outcomes: "{{ plans | certfleet.tls.staple_outcomes(fetched.results) }}"
"""

RETURN = r"""
_value:
  description:
    - Per plan - C(name), C(certificate_dir), C(code), C(action) (none, write, remove), C(response) (write),
      C(stapled), C(status), C(next_update), C(failure), C(notice).
  type: list
"""

from ansible_collections.certfleet.tls.plugins.plugin_utils import staples
from ansible_collections.certfleet.tls.plugins.plugin_utils.filter_glue import as_filter

staple_outcomes = as_filter(staples.staple_outcomes)


class FilterModule:
    def filters(self):
        return {"staple_outcomes": staple_outcomes}
