#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ocsp_staple_file
short_description: Read, write or remove the OCSP staple of a certificate's live release on the managed host
version_added: 0.3.0
description:
  - Runs on the managed host with the Python standard library only. The staple itself is fetched and verified
    on the control node (M(certfleet.tls.ocsp_stapling)); this module only moves bytes.
  - The staple belongs to the release it is about. It lives in C(<certificate_dir>/live/), which is a symlink to
    C(<certificate_dir>/releases/<id>/) that M(certfleet.tls.certificate_deploy) switches at every renewal, so a
    new certificate never goes live with the staple of the one before it.
  - Beside C(ocsp.der) it writes C(nginx-stapling.conf), the two nginx directives that serve it
    (C(ssl_stapling on;) and C(ssl_stapling_file) with the release's own path). The site file of
    M(certfleet.tls.nginx) includes it through a pattern that matches nothing in a release without a staple, so
    nginx's config test passes for every release, with or without a staple (docs/nginx.md).
  - Per item, O(staples[].state) says what to do.
  - V(read) changes nothing and returns the live release's full chain and staple (public data), for the
    control node to decide whether a new staple is due (the filter C(certfleet.tls.staple_plan)).
  - V(present) writes O(staples[].response) (base64 DER) as C(ocsp.der) and the nginx directives, each file
    atomically (a temp file in the same directory, then a rename), mode C(0644). Idempotent - the same bytes
    change nothing.
  - V(absent) removes both files from the live release (a revoked or unknown certificate is never stapled).
  - Writing and removing hold the certificate's lock (C(<certificate_dir>/.certfleet.lock)), so a staple never
    lands in a release that a running deploy is switching away from.
  - Every item is done; an item that cannot be (no live release, a response that is not base64 DER) fails the
    task at the end with a message naming its directory, and the other items are still done.
author:
  - certfleet.tls developers (@certfleet)
options:
  staples:
    description: One item per certificate directory.
    type: list
    elements: dict
    required: true
    suboptions:
      certificate_dir:
        description: Directory that holds C(live) (a symlink to a release inside this directory).
        type: path
        required: true
      state:
        description: V(read), V(present) or V(absent), see the description.
        type: str
        choices: [read, present, absent]
        default: present
      response:
        description: With V(present), the verified OCSP response, DER in base64 (RV(certfleet.tls.ocsp_stapling#module:response)).
        type: str
  lock_timeout:
    description: Seconds to wait for another run's lock on a certificate before failing.
    type: float
    default: 120
extends_documentation_fragment:
  - certfleet.tls.host_module
notes:
  - The diff shows a summary of the staple (size and SHA-256), never its bytes.
"""

EXAMPLES = r"""
- name: Read the live certificate and staple of each stapled site
  certfleet.tls.ocsp_staple_file:
    staples:
      - certificate_dir: /etc/ssl/certfleet/www
        state: read
  register: deployed

- name: Fetch and verify a staple on the control node
  certfleet.tls.ocsp_stapling:
    cert_content: "{{ deployed.staples[0].fullchain }}"
  delegate_to: localhost
  become: false
  register: fetched

- name: Serve it from the live release (nginx - ssl_stapling_file)
  certfleet.tls.ocsp_staple_file:
    staples:
      - certificate_dir: /etc/ssl/certfleet/www
        response: "{{ fetched.response }}"
  notify: certfleet tls reload
"""

RETURN = r"""
staples:
  description: One entry per item, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    certificate_dir:
      description: The item's directory.
      type: str
    state:
      description: The item's state.
      type: str
    release:
      description: The directory C(live) points to (null when C(live) is not a symlink to a directory inside O(staples[].certificate_dir)).
      type: str
    changed:
      description: Whether this item changed (or would, in check mode).
      type: bool
    fullchain:
      description: With V(read), the text of C(live/fullchain.pem) (public data), null when missing.
      type: str
    response:
      description: With V(read), C(live/ocsp.der) in base64, null when missing.
      type: str
    stapling_conf:
      description: Whether C(live/nginx-stapling.conf) exists (after the call).
      type: bool
    staple_sha256:
      description: SHA-256 (hex) of C(live/ocsp.der) after the call, null when there is none.
      type: str
    msg:
      description: Why the item could not be done.
      type: str
      returned: when the item failed
"""

import base64
import binascii
import hashlib
import os
import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.certfleet.tls.plugins.module_utils.host_files import (
    LockTimeout, atomic_write, certificate_lock, exit_batch, read_bytes)

STAPLE_FILE = "ocsp.der"
NGINX_STAPLING_FILE = "nginx-stapling.conf"
# The same refusals as the nginx role's paths: nothing that could end or escape the quoted nginx string.
UNSAFE_PATH = re.compile(r"[\"'\\$;{}\n\r]")
MAX_RESPONSE_BYTES = 1024 * 1024  # real responses are a few kB


def nginx_stapling_conf(release):
    """The nginx directives that serve a release's staple; the same text certificate_deploy writes."""
    return ("# Written by certfleet.tls beside ocsp.der: nginx staples this release's OCSP response.\n"
            "ssl_stapling on;\n"
            "ssl_stapling_file \"%s\";\n" % os.path.join(release, STAPLE_FILE))


def live_release(certificate_dir):
    """The real directory ``live`` points to, when it is a symlink to a directory inside ``certificate_dir``."""
    live = os.path.join(certificate_dir, "live")
    if not os.path.islink(live):
        return None
    release = os.path.realpath(live)
    inside = os.path.realpath(certificate_dir) + os.sep
    if not release.startswith(inside) or not os.path.isdir(release):
        return None
    return release


def decode_response(text, where):
    """DER bytes of a base64 OCSP response, or a message that names the item."""
    try:
        der = base64.b64decode(text or "", validate=True)
    except (binascii.Error, ValueError):
        return None, "%s: response is not base64" % where
    # An OCSPResponse is a DER SEQUENCE (RFC 6960 §4.2.1); the control node verified the rest.
    if not der or der[0] != 0x30 or len(der) > MAX_RESPONSE_BYTES:
        return None, "%s: response is not a DER OCSP response (%d bytes)" % (where, len(der))
    return der, None


def summary(data):
    if data is None:
        return "none"
    return "%d bytes, sha256 %s" % (len(data), hashlib.sha256(data).hexdigest())


class Staple:
    """One item: its live release and the two files in it."""

    def __init__(self, module, spec):
        self.module = module
        self.spec = spec
        self.cdir = spec["certificate_dir"]
        self.release = live_release(self.cdir)
        self.result = dict(certificate_dir=self.cdir, state=spec["state"], release=self.release, changed=False)
        self.failure = None
        self.diff = None

    def path(self, name):
        return os.path.join(self.release, name)

    def read(self):
        if self.release is None:
            self.result.update(fullchain=None, response=None)
            return
        fullchain = read_bytes(self.path("fullchain.pem"))
        staple = read_bytes(self.path(STAPLE_FILE))
        self.result.update(fullchain=fullchain.decode("ascii", "replace") if fullchain is not None else None,
                           response=base64.b64encode(staple).decode("ascii") if staple is not None else None)

    def check(self):
        state = self.spec["state"]
        if state == "read":
            return None
        if state == "present" and self.release is None:
            return ("%s/live is not a symlink to a release inside %s: no certificate to staple (deploy one with "
                    "certfleet.tls.certificate_deploy first)" % (self.cdir, self.cdir))
        if state == "present" and UNSAFE_PATH.search(self.release):
            return ("%s: the release path %r holds characters that cannot be written into nginx's config (quotes, "
                    "backslash, $, ;, braces, newlines)" % (self.cdir, self.release))
        return None

    def apply(self, check_mode):
        state = self.spec["state"]
        if state == "read" or self.release is None:
            return
        staple_path, conf_path = self.path(STAPLE_FILE), self.path(NGINX_STAPLING_FILE)
        current, current_conf = read_bytes(staple_path), read_bytes(conf_path)
        if state == "present":
            der, problem = decode_response(self.spec["response"], self.cdir)
            if problem:
                self.failure = problem
                return
            conf = nginx_stapling_conf(self.release).encode("ascii")
            if current == der and current_conf == conf:
                return
            self.diff = ("%s: %s\n" % (staple_path, summary(current)), "%s: %s\n" % (staple_path, summary(der)))
            if not check_mode:
                # the staple first: the directives never name a file that is not there yet
                atomic_write(staple_path, der, 0o644)
                atomic_write(conf_path, conf, 0o644)
        else:
            if current is None and current_conf is None and not os.path.lexists(staple_path):
                return
            self.diff = ("%s: %s\n" % (staple_path, summary(current)), "%s: none\n" % staple_path)
            if not check_mode:
                # the directives first: no config ever names a removed staple
                for path in (conf_path, staple_path):
                    if os.path.lexists(path):
                        os.unlink(path)
        self.result["changed"] = True

    def finish(self):
        if self.release is None:
            self.result.update(stapling_conf=False, staple_sha256=None)
            return
        staple = read_bytes(self.path(STAPLE_FILE))
        self.result.update(stapling_conf=os.path.exists(self.path(NGINX_STAPLING_FILE)),
                           staple_sha256=hashlib.sha256(staple).hexdigest() if staple is not None else None)
        if self.module.check_mode and self.result["changed"]:
            self.result["stapling_conf"] = self.spec["state"] == "present"


def main():
    module = AnsibleModule(
        argument_spec=dict(
            staples=dict(type="list", elements="dict", required=True, options=dict(
                certificate_dir=dict(type="path", required=True),
                state=dict(type="str", choices=["read", "present", "absent"], default="present"),
                response=dict(type="str"),
            )),
            lock_timeout=dict(type="float", default=120),
        ),
        supports_check_mode=True,
    )
    items = []
    for spec in module.params["staples"]:
        if not os.path.isabs(spec["certificate_dir"]):
            module.fail_json(msg="certificate_dir %r is not an absolute path" % spec["certificate_dir"])
        if spec["state"] == "present" and not spec["response"]:
            module.fail_json(msg="%s: state present needs response (the base64 DER that ocsp_stapling returns)"
                             % spec["certificate_dir"])
        items.append(Staple(module, spec))
    for item in items:
        item.failure = item.check()
        if item.failure:
            continue
        if item.spec["state"] == "read":
            item.read()
            continue
        try:
            if module.check_mode or item.release is None:
                item.apply(module.check_mode)
            else:
                with certificate_lock(item.cdir, module.params["lock_timeout"]):
                    # the lock is held: live may have been switched by a deploy while we waited
                    item.release = live_release(item.cdir)
                    item.result["release"] = item.release
                    item.failure = item.check()
                    if not item.failure:
                        item.apply(False)
        except (LockTimeout, OSError) as error:
            item.failure = "%s: %s" % (item.cdir, error)
    for item in items:
        item.finish()
        if item.failure:
            item.result.update(failed=True, msg=item.failure)
    result = dict(changed=any(item.result["changed"] for item in items), staples=[item.result for item in items])
    exit_batch(module, result, [item.diff for item in items if item.diff],
               [item.failure for item in items if item.failure])


if __name__ == "__main__":
    main()
