#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: certificate_deploy
short_description: Install a key and certificate atomically, test the web server config, reload, roll back on failure
version_added: 0.1.0
description:
  - Runs on the managed host with the Python standard library only.
  - Writes C(privkey.pem) (mode C(0600)), C(cert.pem), C(chain.pem) and C(fullchain.pem) into a new
    directory C(<certificate_dir>/releases/<id>/), then points the symlink C(<certificate_dir>/live)
    at it with one atomic rename, so the web server never sees a key from one pair and a certificate
    from another.
  - Runs O(test_command). If the test fails, C(live) goes back to the previous release, the new release
    is removed, the web server is B(not) reloaded, and the module fails with the test output.
  - Then runs O(reload_command); if the reload fails, C(live) also goes back to the previous release.
  - The private key is the one staged in C(<certificate_dir>/next/) by M(certfleet.tls.certificate_prepare),
    or O(privkey) when given. The private key never appears in the module's output.
  - Also removes the challenge files of the order (O(challenge_tokens)) once the certificate is in place.
  - Idempotent, when C(live) already holds this certificate and key nothing changes and nothing is reloaded.
author:
  - certfleet.tls developers (@certfleet)
options:
  certificate_dir:
    description: Directory that holds C(live), C(releases/) and C(next/).
    type: path
    required: true
  cert:
    description: Leaf certificate, PEM.
    type: str
    required: true
  chain:
    description: Intermediate certificates, PEM (may be empty).
    type: str
    default: ""
  privkey:
    description:
      - Private key, PEM. By default the key staged in C(<certificate_dir>/next/privkey.pem) is used.
    type: str
  test_command:
    description: Command (argv list) that checks the web server configuration; non-zero exit means broken.
    type: list
    elements: str
  reload_command:
    description: Command (argv list) that makes the web server load the new files.
    type: list
    elements: str
  webroot:
    description: Webroot of the challenge files to remove (see O(challenge_tokens)).
    type: path
  challenge_tokens:
    description:
      - Tokens of challenge files to remove from O(webroot). Preflight probes (C(certfleet-probe-*)) are
        always removed, those of a killed earlier run included.
    type: list
    elements: str
    default: []
  keep_releases:
    description: How many releases to keep (the live one and the one before it are always kept).
    type: int
    default: 3
extends_documentation_fragment:
  - certfleet.tls.host_module
"""

EXAMPLES = r"""
- name: Install the new pair, test, reload
  certfleet.tls.certificate_deploy:
    certificate_dir: /etc/ssl/certfleet/www.example.org
    cert: "{{ issued.cert }}"
    chain: "{{ issued.chain }}"
    test_command: [nginx, -t]
    reload_command: [nginx, -s, reload]
    webroot: /var/www/html
    challenge_tokens: "{{ order.challenges | map(attribute='token') }}"
"""

RETURN = r"""
release:
  description: Directory the C(live) symlink points to after the call.
  returned: always
  type: str
  sample: /etc/ssl/certfleet/www.example.org/releases/000002-20261128T170102-3f1a9c2e
previous_release:
  description: Directory C(live) pointed to before the call (null on first deploy).
  returned: always
  type: str
reloaded:
  description: Whether O(reload_command) ran.
  returned: always
  type: bool
removed_challenges:
  description: Challenge and probe files removed from O(webroot).
  returned: always
  type: list
  elements: str
test_output:
  description: Output of O(test_command) (stdout and stderr), when it ran.
  returned: when test_command ran
  type: str
"""

import hashlib
import os
import shutil
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.certfleet.tls.plugins.module_utils.host_files import (
    atomic_write, challenge_path, ensure_dir, read_bytes, replace_symlink, token_error)


PROBE_PREFIX = "certfleet-probe-"


def run(command):
    proc = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          check=False)
    return proc.returncode, proc.stdout.decode("utf-8", "replace")


def current_release(certificate_dir):
    live = os.path.join(certificate_dir, "live")
    if os.path.islink(live):
        return os.path.realpath(live)
    return None


def release_sequence(name):
    head = name.split("-", 1)[0]
    return int(head) if head.isdigit() else -1


def next_sequence(releases_dir):
    if not os.path.isdir(releases_dir):
        return 1
    return max([release_sequence(n) for n in os.listdir(releases_dir)] + [0]) + 1


def prune(releases_dir, keep, protect):
    names = sorted((n for n in os.listdir(releases_dir) if not n.startswith(".")), key=release_sequence)
    for name in names[:-keep] if keep > 0 else []:
        path = os.path.join(releases_dir, name)
        if os.path.realpath(path) not in protect:
            shutil.rmtree(path, ignore_errors=True)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            certificate_dir=dict(type="path", required=True),
            cert=dict(type="str", required=True),
            chain=dict(type="str", default=""),
            privkey=dict(type="str", no_log=True),
            test_command=dict(type="list", elements="str"),
            reload_command=dict(type="list", elements="str"),
            webroot=dict(type="path"),
            challenge_tokens=dict(type="list", elements="str", default=[], no_log=False),
            keep_releases=dict(type="int", default=3),
        ),
        supports_check_mode=True,
    )
    p = module.params
    cdir = p["certificate_dir"]
    live = os.path.join(cdir, "live")
    cert = p["cert"].strip() + "\n"
    chain = (p["chain"].strip() + "\n") if p["chain"].strip() else ""
    fullchain = cert + chain
    if "BEGIN CERTIFICATE" not in cert:
        module.fail_json(msg="cert is not a PEM certificate")
    if os.path.exists(live) and not os.path.islink(live):
        module.fail_json(msg="%s exists and is not a symlink; move it away so releases can be switched atomically"
                         % live)
    for token in p["challenge_tokens"]:
        problem = token_error(token)
        if problem:
            module.fail_json(msg="challenge_tokens: %s" % problem)

    staged_key = os.path.join(cdir, "next", "privkey.pem")
    key = p["privkey"].encode() if p["privkey"] else read_bytes(staged_key)
    previous = current_release(cdir)
    live_fullchain = read_bytes(os.path.join(live, "fullchain.pem")) if previous else None
    live_key = read_bytes(os.path.join(live, "privkey.pem")) if previous else None
    same = live_fullchain == fullchain.encode() and (key is None or live_key == key)
    result = dict(changed=False, release=previous, previous_release=previous, reloaded=False)

    removed = []
    if not same:
        if key is None:
            module.fail_json(msg="no private key: %s does not exist and privkey is not given (run "
                                 "certfleet.tls.certificate_prepare first)" % staged_key)
        # A sequence number first: releases sort in deploy order even within one second.
        release_id = "%06d-%s-%s" % (next_sequence(os.path.join(cdir, "releases")),
                                     time.strftime("%Y%m%dT%H%M%S", time.gmtime()),
                                     hashlib.sha256(fullchain.encode()).hexdigest()[:8])
        release = os.path.join(cdir, "releases", release_id)
        result.update(changed=True, release=release)
        if module._diff:
            result["diff"] = {"before": "live -> %s\n" % previous, "after": "live -> %s\n" % release}
        if not module.check_mode:
            ensure_dir(release, 0o755)
            atomic_write(os.path.join(release, "privkey.pem"), key, 0o600)
            atomic_write(os.path.join(release, "cert.pem"), cert, 0o644)
            atomic_write(os.path.join(release, "chain.pem"), chain, 0o644)
            atomic_write(os.path.join(release, "fullchain.pem"), fullchain, 0o644)
            replace_symlink(live, os.path.relpath(release, cdir))

            def roll_back(why, output):
                if previous:
                    replace_symlink(live, os.path.relpath(previous, cdir))
                else:
                    os.unlink(live)
                shutil.rmtree(release, ignore_errors=True)
                module.fail_json(msg="%s; kept the previous certificate (%s) and did not reload"
                                 % (why, previous or "none"), test_output=output, release=previous,
                                 previous_release=previous, reloaded=False)

            if p["test_command"]:
                rc, output = run(p["test_command"])
                result["test_output"] = output
                if rc != 0:
                    roll_back("web server config test %s failed (rc=%d)" % (" ".join(p["test_command"]), rc), output)
            if p["reload_command"]:
                rc, output = run(p["reload_command"])
                if rc != 0:
                    roll_back("reload %s failed (rc=%d): %s" % (" ".join(p["reload_command"]), rc, output.strip()),
                              output)
                result["reloaded"] = True
            # The staged key is now the live key: it must not be staged again.
            if read_bytes(staged_key) == key:
                shutil.rmtree(os.path.join(cdir, "next"), ignore_errors=True)
            prune(os.path.join(cdir, "releases"), max(p["keep_releases"], 2),
                  {os.path.realpath(release), previous})
    if p["webroot"]:
        # Our preflight probes carry a fixed prefix: remove them all, including those of a killed run.
        challenge_dir = os.path.dirname(challenge_path(p["webroot"], "x"))
        probes = [n for n in os.listdir(challenge_dir) if n.startswith(PROBE_PREFIX)] \
            if os.path.isdir(challenge_dir) else []
        for token in list(p["challenge_tokens"]) + [n for n in probes if n not in p["challenge_tokens"]]:
            path = challenge_path(p["webroot"], token)
            if os.path.lexists(path):
                removed.append(path)
                if not module.check_mode:
                    os.unlink(path)
    result["removed_challenges"] = removed
    result["changed"] = result["changed"] or bool(removed)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
