#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: certificate_state
short_description: Read what a managed host holds for one certificate, and stage its next key
version_added: 0.2.0
description:
  - The host side of M(certfleet.tls.certificate_prepare), usable on its own. It runs on the managed host with
    the Python standard library only.
  - O(step=read) reads the deployed leaf certificate (C(<certificate_dir>/live/fullchain.pem)), the key and CSR
    staged in C(next/) by an earlier run, the order recorded beside them, and the marker of a deploy that did
    not finish. It also checks, in every run, the inputs only the host can check (the webroot exists, C(live)
    is a symlink) and runs the web server's own config test, so that a broken host is reported by name before
    anything is ordered.
  - O(step=stage) writes the next private key (mode C(0600), in a C(0700) directory) and its CSR to C(next/), and
    the preflight probe file through the same code that writes ACME challenge files. It holds the
    certificate's lock, so it never overwrites C(next/) while another run deploys from it.
  - O(step=remove_probe) removes the probe file after a failed preflight.
  - O(step=discard_staged) removes C(next/) when it still holds the CSR given in O(csr) (a stale key that is
    already live), under the lock.
author:
  - certfleet.tls developers (@certfleet)
options:
  step:
    description: What to do (see the description).
    type: str
    choices: [read, stage, remove_probe, discard_staged]
    default: read
  certificate_dir:
    description: Directory with C(live), C(releases/) and C(next/). Must be absolute.
    type: path
    required: true
  webroot:
    description:
      - Directory the web server serves C(/.well-known/acme-challenge/) from. With O(step=read) it must exist.
    type: path
  test_command:
    description: With O(step=read), the web server's config test (argv), run before any order. A failure fails the host.
    type: list
    elements: str
  privkey:
    description: With O(step=stage), the private key to stage (PEM). Omit it to keep the staged key (probe only).
    type: str
  csr:
    description:
      - With O(step=stage), the CSR (PEM) of O(privkey).
      - With O(step=discard_staged), the staged CSR the caller saw; C(next/) is removed only if it still holds it.
    type: str
  probe_token:
    description: With O(step=stage) or O(step=remove_probe), the name of the preflight probe file.
    type: str
  probe_content:
    description: With O(step=stage), the content of the probe file.
    type: str
  lock_timeout:
    description: Seconds to wait for another run's lock on this certificate before failing.
    type: float
    default: 120
extends_documentation_fragment:
  - certfleet.tls.host_module
"""

EXAMPLES = r"""
- name: What does this host hold for www.example.org?
  certfleet.tls.certificate_state:
    certificate_dir: /etc/ssl/certfleet/www.example.org
    webroot: /var/www/html
    test_command: [nginx, -t]
  register: held
"""

RETURN = r"""
live_cert:
  description: PEM of the deployed leaf certificate.
  returned: O(step=read) and a certificate is deployed
  type: str
staged_csr:
  description: PEM of the CSR staged in C(next/) beside a staged key.
  returned: O(step=read) and a key is staged
  type: str
pending_order_url:
  description: Order recorded in C(next/order.json) by a run that did not finish.
  returned: O(step=read) and a record exists
  type: str
interrupted_deploy:
  description: What the marker of a deploy that did not confirm its reload says (release and time).
  returned: O(step=read) and a marker exists
  type: str
config_test:
  description: The config test that ran (command, rc, output).
  returned: O(step=read) and O(test_command) is set
  type: dict
paths:
  description: Files written or removed.
  returned: always
  type: list
  elements: str
"""

import json
import os
import subprocess

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.certfleet.tls.plugins.module_utils.certificate_specs import CERTIFICATE_STATE_SPEC
from ansible_collections.certfleet.tls.plugins.module_utils.host_files import (
    DEPLOY_MARKER, STAGED_DIR, LockTimeout, atomic_write, certificate_lock, ensure_dir, first_pem_certificate,
    read_bytes, sync_challenges, token_error)


def read_state(module):
    params = module.params
    cdir = params["certificate_dir"]
    live = os.path.join(cdir, "live")
    if os.path.lexists(live) and not os.path.islink(live):
        module.fail_json(msg="certificate_dir: %s exists and is not a symlink; move it away so releases can be "
                             "switched atomically" % live)
    if params["webroot"] and not os.path.isdir(params["webroot"]):
        module.fail_json(msg="webroot %s does not exist or is not a directory: challenge files written there would "
                             "never be served" % params["webroot"])
    result = dict(changed=False, paths=[])
    live_cert = first_pem_certificate(read_bytes(os.path.join(live, "fullchain.pem")))
    if live_cert:
        result["live_cert"] = live_cert
    staged_csr = read_bytes(os.path.join(cdir, STAGED_DIR, "request.csr"))
    if staged_csr and os.path.exists(os.path.join(cdir, STAGED_DIR, "privkey.pem")):
        result["staged_csr"] = staged_csr.decode("ascii", "replace")
        record = read_bytes(os.path.join(cdir, STAGED_DIR, "order.json"))
        if record:
            try:
                result["pending_order_url"] = json.loads(record.decode("utf-8")).get("order_url")
            except ValueError:
                pass  # a torn record is worth nothing: the next order starts afresh
    marker = read_bytes(os.path.join(cdir, DEPLOY_MARKER))
    if marker is not None:
        try:
            facts = json.loads(marker.decode("utf-8"))
            result["interrupted_deploy"] = "release %s, started %s" % (facts.get("release"), facts.get("started"))
        except ValueError:
            result["interrupted_deploy"] = "unreadable marker %s" % os.path.join(cdir, DEPLOY_MARKER)
    if params["test_command"]:
        proc = subprocess.run(params["test_command"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, check=False)
        output = proc.stdout.decode("utf-8", "replace")
        result["config_test"] = dict(command=params["test_command"], rc=proc.returncode, output=output)
        if proc.returncode != 0:
            module.fail_json(msg="the web server's config test %s already fails on this host (rc=%d), before "
                                 "anything was ordered: fix the config first. %s"
                                 % (" ".join(params["test_command"]), proc.returncode, output.strip()[-400:]),
                             **result)
    return result


def probe_items(module):
    token = module.params["probe_token"]
    problem = token_error(token)
    if problem:
        module.fail_json(msg="probe_token: %s" % problem)
    if not module.params["webroot"] or not os.path.isdir(module.params["webroot"]):
        module.fail_json(msg="webroot %s does not exist: the preflight probe cannot be written"
                             % module.params["webroot"])
    return [(token, module.params["probe_content"] or "")]


def stage(module):
    params = module.params
    cdir = params["certificate_dir"]
    staged = os.path.join(cdir, STAGED_DIR)
    paths = []
    diff = {"before": "", "after": ""}
    probe = probe_items(module) if params["probe_token"] else []
    if params["privkey"]:
        if not params["csr"]:
            module.fail_json(msg="csr is required with privkey: a staged key always has its CSR beside it")
        paths += [os.path.join(staged, "privkey.pem"), os.path.join(staged, "request.csr")]
        # The key itself never goes into a diff.
        had_key = os.path.exists(os.path.join(staged, "privkey.pem"))
        diff["before"] += "next/privkey.pem: %s\n" % ("a previous key" if had_key else "absent")
        diff["after"] += "next/privkey.pem: a new key (content not shown), next/request.csr\n"
        if not module.check_mode:
            with certificate_lock(cdir, params["lock_timeout"]):
                ensure_dir(staged, 0o700)
                os.chmod(staged, 0o700)  # also when an older run left it wider
                # Key before CSR: a CSR never points at a missing key. The old order record belonged to the old key.
                atomic_write(os.path.join(staged, "privkey.pem"), params["privkey"], 0o600)
                atomic_write(os.path.join(staged, "request.csr"), params["csr"], 0o644)
                if os.path.exists(os.path.join(staged, "order.json")):
                    os.unlink(os.path.join(staged, "order.json"))
    if probe:
        written, probe_diff = sync_challenges(params["webroot"], probe, "present", module.check_mode)
        paths += written
        diff["after"] += probe_diff["after"]
    result = dict(changed=bool(paths), paths=paths)
    if module._diff:
        result["diff"] = diff
    return result


def remove_probe(module):
    removed, diff = sync_challenges(module.params["webroot"], probe_items(module), "absent", module.check_mode)
    return dict(changed=bool(removed), paths=removed, diff=diff) if module._diff else dict(changed=bool(removed),
                                                                                           paths=removed)


def discard_staged(module):
    params = module.params
    staged = os.path.join(params["certificate_dir"], STAGED_DIR)
    current = read_bytes(os.path.join(staged, "request.csr"))
    if current is None or (params["csr"] and current.decode("ascii", "replace") != params["csr"]):
        return dict(changed=False, paths=[])  # another run re-staged meanwhile: not ours to remove
    if not module.check_mode:
        with certificate_lock(params["certificate_dir"], params["lock_timeout"]):
            if read_bytes(os.path.join(staged, "request.csr")) == current:
                for name in sorted(os.listdir(staged)):
                    os.unlink(os.path.join(staged, name))
                os.rmdir(staged)
    return dict(changed=True, paths=[staged])


STEPS = dict(read=read_state, stage=stage, remove_probe=remove_probe, discard_staged=discard_staged)


def main():
    module = AnsibleModule(argument_spec=CERTIFICATE_STATE_SPEC, supports_check_mode=True)
    if not os.path.isabs(module.params["certificate_dir"]):
        module.fail_json(msg="certificate_dir %r is not an absolute path" % module.params["certificate_dir"])
    try:
        result = STEPS[module.params["step"]](module)
    except LockTimeout as error:
        module.fail_json(msg=str(error))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
