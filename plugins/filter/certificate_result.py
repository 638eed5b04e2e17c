# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: certificate_result
short_description: One certificate_results entry from the certificate role's step results
version_added: 0.2.0
description:
  - Builds the public C(certificate_results) entry of one certificate of one host from the results of the
    certificate role's steps (decide, issue, deploy, verify). The role uses it on every path, failures
    included, so that every run says what each host now holds and serves.
options:
  _input:
    description: The decide step's result (C(certificate_prepare)).
    type: dict
    required: true
  issued:
    description: This certificate's entry of the second C(acme_order) step, or an empty dict.
    type: dict
    default: {}
  deployed:
    description: The C(certificate_deploy) result, or an empty dict.
    type: dict
    default: {}
  verified:
    description: The C(tls_verify) results list.
    type: list
    elements: dict
    default: []
  failure:
    description: The failure message of this host's run, if it failed.
    type: str
author:
  - certfleet.tls developers (@certfleet)
"""

EXAMPLES = r"""
- name: Publish the result of this certificate
  ansible.builtin.set_fact:
    certificate_results: >-
      {{ certificate_results | default([]) | certfleet.tls.merge_certificate_results(
         [__certificate_plan | certfleet.tls.certificate_result(issued=__certificate_my_issue)]) }}
"""

RETURN = r"""
_value:
  description:
    - name, dir, domains, due, code, reason, changed (a new pair went live), serial and not_after (of the pair the
      host now holds), verified (true, false, or null when nothing was deployed this run and so nothing was
      checked), verify_error, failed and msg.
  type: dict
"""


from ansible_collections.certfleet.tls.plugins.plugin_utils.results import certificate_result


class FilterModule:
    def filters(self):
        return {"certificate_result": certificate_result}
