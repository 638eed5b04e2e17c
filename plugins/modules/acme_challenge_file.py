#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: acme_challenge_file
short_description: Write or remove ACME HTTP-01 challenge files in a web server's webroot
version_added: 0.1.0
description:
  - Runs on the managed host with the Python standard library only; the host needs no ACME software.
  - Writes C(<webroot>/.well-known/acme-challenge/<token>) with mode C(0644), creating the directories
    with mode C(0755) so that unprivileged web server workers can read the file.
  - Every token is checked against C(^[A-Za-z0-9_-]+$) (RFC 8555 section 8.1) B(before) anything is written,
    so a hostile or broken CA cannot make it write outside the webroot.
  - Give one challenge with O(token) and O(key_authorization), or all of an order's challenges at once
    with O(challenges) (one task for the whole order).
author:
  - certfleet.tls developers (@certfleet)
options:
  webroot:
    description:
      - Directory the web server serves C(/.well-known/acme-challenge/) from. It must exist.
      - Required unless every item of O(challenges) carries its own C(webroot) (several certificates of one host
        in one call).
    type: path
  token:
    description:
      - Challenge token, as sent by the CA.
      - Mutually exclusive with O(challenges).
    type: str
  key_authorization:
    description:
      - Content of the challenge file (token, a dot, and the account key thumbprint).
      - Required with O(token) when O(state=present).
    type: str
  challenges:
    description:
      - List form. Each item needs C(token) and, for O(state=present), C(key_authorization); an item may carry
        its own C(webroot). Other keys (such as C(identifier) or C(url) from M(certfleet.tls.acme_order)) are
        ignored.
    type: list
    elements: dict
  tokens:
    description:
      - Tokens of files to remove, for O(state=absent) (for example a preflight probe beside an order's
        challenges).
    type: list
    elements: str
  order_url:
    description:
      - URL of the order these challenges belong to, recorded in O(order_record_path) so that a run that dies
        before finalizing can be resumed by the next one (the record lives on the host, beside the staged key,
        because nothing is kept on the control node between runs).
    type: str
  order_record_path:
    description:
      - File (JSON) to record O(order_url) in, with O(state=present). With O(state=absent) the file is removed.
    type: path
  order_records:
    description:
      - Several order records at once (one per certificate of the host), each a dict with C(path) and
        C(order_url); same meaning as O(order_url) + O(order_record_path).
    type: list
    elements: dict
  remove_challenges:
    description:
      - With O(state=present), files to remove in the same call, before the new ones are written, each a dict with
        C(token) and C(webroot) (for example the preflight probes of certificates that this run does not order).
        One host exec instead of two.
      - Checked like O(challenges) before anything is written or removed.
    type: list
    elements: dict
    version_added: 0.2.0
  state:
    description:
      - V(present) writes the files, V(absent) removes them.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - certfleet.tls.host_module
"""

EXAMPLES = r"""
- name: Serve every challenge of an order (one task)
  certfleet.tls.acme_challenge_file:
    webroot: /var/www/html
    challenges: "{{ order.challenges }}"

- name: Serve one challenge
  certfleet.tls.acme_challenge_file:
    webroot: /var/www/html
    token: LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0
    key_authorization: LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI

- name: Serve the challenges of one certificate and remove the preflight probe of another in the same exec
  certfleet.tls.acme_challenge_file:
    challenges: "{{ order.challenges | map('combine', {'webroot': '/var/www/html'}) }}"
    remove_challenges:
      - token: certfleet-probe-Xy3k
        webroot: /var/www/other

- name: Remove them once the CA has validated
  certfleet.tls.acme_challenge_file:
    webroot: /var/www/html
    challenges: "{{ order.challenges }}"
    state: absent
"""

RETURN = r"""
paths:
  description: Challenge files (and order record) written (O(state=present)) or removed (O(state=absent)) by this call.
  returned: always
  type: list
  elements: str
  sample: [/var/www/html/.well-known/acme-challenge/LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0]
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.certfleet.tls.plugins.module_utils.host_files import (
    atomic_write, ensure_dir, read_bytes, sync_challenges, token_error)


def collect(module, items=None, state=None, label="challenge"):
    """(webroot, token, content) of each item, every token checked first; ``items`` defaults to the options."""
    params = module.params
    state = state or params["state"]
    if items is None:
        if params["challenges"] is not None:
            items = params["challenges"]
        elif params["tokens"] is not None:
            items = [{"token": token} for token in params["tokens"]]
        elif params["token"] is not None:
            items = [{"token": params["token"], "key_authorization": params["key_authorization"]}]
        else:
            module.fail_json(msg="give token (with key_authorization), challenges, or tokens (state=absent)")
    wanted = []
    for index, item in enumerate(items):
        token = item.get("token")
        problem = token_error(token)
        if problem:
            module.fail_json(msg="%s %d: %s" % (label, index, problem))
        content = item.get("key_authorization")
        if state == "present":
            if not isinstance(content, str) or not content or "\n" in content:
                module.fail_json(msg="%s %d (token %s): key_authorization must be a one-line string"
                                 % (label, index, token))
        webroot = item.get("webroot") or params["webroot"]
        if not webroot:
            module.fail_json(msg="%s %d (token %s) has no webroot and the webroot option is not set"
                             % (label, index, token))
        wanted.append((webroot, token, content))
    return wanted


def main():
    module = AnsibleModule(
        argument_spec=dict(
            webroot=dict(type="path"),
            token=dict(type="str", no_log=False),
            key_authorization=dict(type="str", no_log=False),
            challenges=dict(type="list", elements="dict"),
            tokens=dict(type="list", elements="str", no_log=False),
            order_url=dict(type="str"),
            order_record_path=dict(type="path"),
            order_records=dict(type="list", elements="dict"),
            remove_challenges=dict(type="list", elements="dict"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        mutually_exclusive=[("token", "challenges", "tokens")],
        supports_check_mode=True,
    )
    state = module.params["state"]
    if module.params["tokens"] is not None and state == "present":
        module.fail_json(msg="tokens only removes files (state=absent); use challenges to write them")
    if module.params["tokens"] is not None and not module.params["webroot"]:
        module.fail_json(msg="tokens needs the webroot option")
    if module.params["remove_challenges"] and state != "present":
        module.fail_json(msg="remove_challenges goes with state=present; with state=absent give them as challenges")
    wanted = collect(module)  # every token is checked before the first write or removal
    unwanted = collect(module, module.params["remove_challenges"] or [], "absent", label="remove_challenges item")
    webroots = []
    for webroot, dummy, dummy in wanted:
        if webroot not in webroots:
            webroots.append(webroot)
    for webroot in webroots:
        if not os.path.isdir(webroot):
            module.fail_json(msg="webroot %s does not exist or is not a directory: challenge files written elsewhere "
                                 "would never be served" % webroot)
    changed_paths = []
    diff = {"before": "", "after": ""}
    for webroot in sorted(set(w for w, dummy, dummy in unwanted)):
        removed, part = sync_challenges(webroot, [(t, c) for w, t, c in unwanted if w == webroot], "absent",
                                        module.check_mode)
        changed_paths += removed
        diff["before"] += part["before"]
        diff["after"] += part["after"]
    for webroot in webroots:
        written, part = sync_challenges(webroot, [(t, c) for w, t, c in wanted if w == webroot], state,
                                        module.check_mode)
        changed_paths += written
        diff["before"] += part["before"]
        diff["after"] += part["after"]
    records = list(module.params["order_records"] or [])
    if module.params["order_record_path"]:
        records.append({"path": module.params["order_record_path"], "order_url": module.params["order_url"]})
    for record_spec in records:
        record_path = record_spec.get("path")
        if not record_path:
            module.fail_json(msg="order_records: an item has no path")
        record = (json.dumps({"order_url": record_spec.get("order_url")}, sort_keys=True) + "\n").encode()
        current = read_bytes(record_path)
        if state == "present" and record_spec.get("order_url") and current != record:
            changed_paths.append(record_path)
            if not module.check_mode:
                ensure_dir(os.path.dirname(record_path), 0o700)
                atomic_write(record_path, record, 0o644)
        elif state == "absent" and current is not None:
            changed_paths.append(record_path)
            if not module.check_mode:
                os.unlink(record_path)
    result = dict(changed=bool(changed_paths), paths=changed_paths)
    if module._diff:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
