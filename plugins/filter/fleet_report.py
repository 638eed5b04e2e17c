# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: fleet_report
short_description: The fleet report document from tls_verify results, one entry per host and certificate
version_added: 0.2.0
description:
  - Turns the RV(certfleet.tls.tls_verify#module:results) of M(certfleet.tls.tls_verify) into one document (the JSON
    that C(certfleet.tls.report) writes to C(report_json_path)), with C(schema), C(generated_at), C(summary)
    (certificates, verified, failed, earliest_not_after), C(issuers) (issuer and number of certificates) and
    C(certificates).
  - Each item of C(certificates) has C(host), C(certificate) (the certificate name), C(server_name), C(address),
    C(port), C(verified), C(chain_verified), C(error), C(serial), C(issuer), C(domains), C(not_before),
    C(not_after), C(days_left), C(next_renewal) and C(next_renewal_rule) (when the lifetime rule of the host's
    C(certificate_renew_at_fraction) or C(certificate_renew_before_days) makes the served certificate due; ARI can
    only bring it forward), C(profile), C(sct_count), C(ocsp_responders), C(ocsp_status) (the served staple -
    V(good), V(revoked), V(unknown), or V(not_stapled), V(stale), V(invalid), V(not_checked), V(no_responder)),
    C(ocsp_next_update), C(ocsp_revocation_reason), C(ocsp_error), C(spki_sha256), C(tlsa_3_1_1), C(pin_role)
    (which key of the key store the host serves - V(active), V(backup), V(neither), or null when the certificate's
    keys are not in a store), C(pin_mismatch) (true for V(neither)), C(store_pins), C(deployed_serial),
    C(deployed_source), C(deployed_error) and C(serial_matches_deployed). C(summary) also counts C(pin_mismatches).
  - The deployed serial is what the host holds on disk, when the run knows it - from the report playbook's read of
    C(live/fullchain.pem) (variable C(certfleet_report_deployed)), else from the certificate role's
    C(certificate_results) when the role ran earlier in the same C(ansible-playbook) run; otherwise it is null.
options:
  _input:
    description: The C(results) of M(certfleet.tls.tls_verify).
    type: list
    elements: dict
    required: true
  targets:
    description: The C(targets) those results came from, in the same order (C(certfleet.tls.fleet_targets)).
    type: list
    elements: dict
    required: true
  hostvars:
    description: The C(hostvars) magic variable.
    type: dict
    required: true
  pins:
    description:
      - A mapping of certificate name to C(active) and C(backup), the pin-sha256 values of the key store (key_policy C(reuse) or
        C(pinned)); a registered M(certfleet.tls.key_store) result (C(active_pin), C(backup_pin)) may stand for the
        mapping. Each entry then says which of them the host serves
        (C(pin_role)). Without it, the pins come from C(certificate_results) when the certificate role ran in the
        same play.
    type: dict
author:
  - certfleet.tls developers (@certfleet)
"""

EXAMPLES = r"""
- name: Build the report document
  ansible.builtin.set_fact:
    fleet: "{{ served.results | certfleet.tls.fleet_report(targets, hostvars) }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: The report document.
  type: dict
"""

from ansible_collections.certfleet.tls.plugins.plugin_utils import report
from ansible_collections.certfleet.tls.plugins.plugin_utils.filter_glue import as_filter


@as_filter(errors=report.ReportError)
def fleet_report(results, targets, hostvars, pins=None):
    """The step's arguments without ``now``: a report is built at the time of the run (a fourth positional argument
    stays ``pins``)."""
    return report.fleet_report(results, targets, hostvars, pins=pins)


class FilterModule:
    def filters(self):
        return {"fleet_report": fleet_report}
