# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: certificate_requests
short_description: A host's certificate requests as one normalized list
version_added: 0.2.0
description:
  - Reads C(certificate_requests) (one item per certificate) or, when it is empty, the single-certificate
    shorthand C(certificate_domains) + C(certificate_dir) + C(certificate_webroot) (+ C(certificate_name)).
  - Each item comes back with C(name) (default - the normalized domains joined by commas), C(domains)
    (lower-case, IDNA), C(dir), C(webroot), C(key_type), C(profile) and C(challenge) (default V(http-01)). Other
    keys (web-server settings of the web roles) pass through untouched.
  - Fails naming the item and the key for a bad domain, a missing C(dir), two items with the same name, or two
    items sharing one C(dir).
options:
  _input:
    description: The C(certificate_requests) list (may be empty).
    type: list
    elements: dict
    required: true
  domains:
    description: The shorthand's C(certificate_domains).
    type: list
    elements: str
  directory:
    description: The shorthand's C(certificate_dir).
    type: str
  webroot:
    description: The shorthand's C(certificate_webroot).
    type: str
  name:
    description: The shorthand's C(certificate_name).
    type: str
author:
  - certfleet.tls developers (@certfleet)
"""

EXAMPLES = r"""
- name: Every certificate of this host
  ansible.builtin.debug:
    msg: >-
      {{ certificate_requests | default([]) | certfleet.tls.certificate_requests(
         domains=certificate_domains | default([]), directory=certificate_dir | default(none),
         webroot=certificate_webroot | default(none)) }}
"""

RETURN = r"""
_value:
  description: The normalized items.
  type: list
  elements: dict
"""

from ansible_collections.certfleet.tls.plugins.plugin_utils.filter_glue import as_filter
from ansible_collections.certfleet.tls.plugins.plugin_utils.requests import RequestError, normalize_requests

certificate_requests = as_filter(normalize_requests, RequestError)


class FilterModule:
    def filters(self):
        return {"certificate_requests": certificate_requests}
