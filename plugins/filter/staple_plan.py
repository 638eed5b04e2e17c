# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: staple_plan
short_description: What each OCSP-stapled site of a web role needs - keep, fetch or no staple
version_added: 0.3.0
description:
  - A step of the web roles, as plain Python (plugins/plugin_utils/staples.py) so that it is unit-tested. No network.
  - For each site with C(ocsp_stapling), from what its live release holds (M(certfleet.tls.ocsp_staple_file) state
    V(read)) - C(keep) a verified good staple of the live certificate that is not past half of its validity, C(fetch)
    a new one (none, past half, not valid for the live certificate), or C(off) (no certificate yet, a self-signed
    placeholder, no issuer in the chain, or no OCSP URL in the certificate).
options:
  _input:
    description: The sites (items with C(name), C(dir), C(ocsp_stapling)); sites without C(ocsp_stapling) are left out.
    type: list
    required: true
  read_results:
    description: The C(staples) of M(certfleet.tls.ocsp_staple_file) with state V(read), matched by C(certificate_dir).
    type: list
  now:
    description: The time to judge at (a timezone-aware datetime; default now). For tests.
    type: raw
author:
  - certfleet.tls developers (@certfleet)
"""

EXAMPLES = r"""
- name: Use it
  ansible.builtin.set_fact:
    plans: "{{ sites | certfleet.tls.staple_plan(read.staples) }}"
"""

RETURN = r"""
_value:
  description:
    - Per stapled site - C(name), C(certificate_dir), C(action) (keep, fetch, off), C(code), C(reason), C(serial),
      C(responder_url), C(next_update), C(refresh_at), C(has_staple), C(staple_valid).
    - C(code) is one of fresh, missing, refresh_due, not_valid, no_certificate, self_signed, no_issuer, no_responder.
  type: list
"""

from ansible_collections.certfleet.tls.plugins.plugin_utils import staples
from ansible_collections.certfleet.tls.plugins.plugin_utils.filter_glue import as_filter

staple_plan = as_filter(staples.plan_staples)


class FilterModule:
    def filters(self):
        return {"staple_plan": staple_plan}
