# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: tlsa_publication
short_description: The DANE TLSA records to publish for the certificates whose keys the key store holds
version_added: 0.3.0
description:
  - A step of the certificate role, as plain Python (plugins/plugin_utils/dane.py) so that it is unit-tested.
  - Reads each host's C(certificate_results). A certificate with keys in the key store (key_policy C(reuse) or
    C(pinned)) gets C(3 1 1) records for its active key, its backup key, and the key the host serves now when it
    is neither (a rotation whose new key is not live yet), under C(_<port>._tcp.<name>) for each of its names.
  - Wildcard names get no record. Certificates whose key changes at every issuance get none.
options:
  _input:
    description: Host names (C(ansible_play_hosts_all)).
    type: raw
    required: true
  hostvars:
    description: The C(hostvars) magic variable.
    type: dict
    required: true
  ttl:
    description: TTL of the records, in seconds.
    type: int
    default: 3600
  outcomes:
    description:
      - The play's C(certfleet.tls.fleet_outcomes). A host listed there is read from its C(results) instead of its
        C(certificate_results) (the certificate role publishes before it sets them).
    type: dict
author:
  - certfleet.tls developers (@certfleet)
"""

EXAMPLES = r"""
- name: Publish the TLSA records of the play's certificates
  certfleet.tls.dns_record:
    server: 192.0.2.53
    tsig_key_file: /etc/certfleet/tlsa.key
    records: "{{ (ansible_play_hosts_all | certfleet.tls.tlsa_publication(hostvars)).records }}"
    exclusive: true
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
_value:
  description:
    - C(records), one TLSA RRset per owner name, ready for M(certfleet.tls.dns_record) (C(record), C(type),
      C(values), C(ttl)); C(certificates), per certificate its C(name), store C(pins) (active, backup), C(owners)
      and C(hosts); C(zone_lines), the same records as zone-file lines.
  type: dict
"""

from ansible_collections.certfleet.tls.plugins.plugin_utils import dane
from ansible_collections.certfleet.tls.plugins.plugin_utils.filter_glue import as_filter


@as_filter
def tlsa_publication(value, hostvars, ttl=3600, outcomes=None):
    """The documented options only: the ports come from each request's ``tlsa_ports`` or the host's
    ``certificate_tlsa_ports`` (the step's ``default_ports`` is not an option of the filter)."""
    return dane.tlsa_publication(value, hostvars, ttl=ttl, outcomes=outcomes)


class FilterModule:
    def filters(self):
        return {"tlsa_publication": tlsa_publication}
