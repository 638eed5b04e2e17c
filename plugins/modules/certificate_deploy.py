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
  - Before switching, checks with the standard library's C(ssl) that the private key belongs to the
    certificate. A mismatch (another run re-staged the key meanwhile) fails with nothing switched.
  - Holds the certificate's lock (C(<certificate_dir>/.certfleet.lock)) from reading the staged key to the
    end, so two runs on one host never interleave a stage and a deploy.
  - Writes a marker (C(<certificate_dir>/deploying.json)) before the switch and removes it once the server
    is confirmed to serve the new pair. A run killed in between leaves it, and the next decision step treats
    the certificate as due instead of trusting files the server may never have loaded.
  - Runs O(test_command). If the test fails, C(live) goes back to the previous release, the new release
    is removed, the web server is B(not) reloaded, and the module fails with the test output.
  - Then runs O(reload_command); if the reload fails, C(live) also goes back to the previous release.
  - With O(verify_port), it then connects to the server over TLS from the host itself until the new
    certificate is served (a graceful reload returns before the server has loaded anything). If it is not
    served within O(verify_timeout), C(live) goes back to the previous release, the server is reloaded
    again, and the failure says what the server serves after that.
  - The private key is the one staged in C(<certificate_dir>/next/) by M(certfleet.tls.certificate_prepare),
    or O(privkey) when given. The private key never appears in the module's output.
  - C(next/) is removed whenever the key it holds is the live key, also when nothing else changes (a run that
    died before its cleanup).
  - Also removes the challenge files of the order (O(challenge_tokens)) once the certificate is in place.
  - Idempotent, when C(live) already holds this certificate and key nothing changes and nothing is reloaded.
  - B(Several certificates of one host) go in one call with O(certificates) - every release is written and
    switched, the config is tested once and the server reloaded once, then each certificate is confirmed; a
    certificate that is not served is switched back alone (and the server reloaded again), the others stay.
author:
  - certfleet.tls developers (@certfleet)
options:
  certificates:
    description:
      - The certificates of this host, for one batch (mutually exclusive with the single form
        O(certificate_dir) + O(cert)).
    type: list
    elements: dict
    suboptions:
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
        description: Private key, PEM. By default the key staged in C(<certificate_dir>/next/privkey.pem).
        type: str
      webroot:
        description: Webroot of the challenge files to remove.
        type: path
      challenge_tokens:
        description: Tokens of challenge files to remove from O(certificates[].webroot).
        type: list
        elements: str
        default: []
      verify_server_name:
        description: SNI name for the confirmation over TLS.
        type: str
      validity:
        description:
          - The certificate's C([not_before, not_after]) in seconds since the epoch. Written into the new release as
            C(validity), a hint that lets M(certfleet.tls.certificate_state) stage the next key ahead in the same exec
            as its read. The renewal decision itself never reads it.
        type: list
        elements: int
        version_added: 0.3.0
      ocsp_response:
        description:
          - The new certificate's verified OCSP staple, DER in base64 (what M(certfleet.tls.ocsp_stapling) returns
            in C(response)), fetched on the control node right after the certificate was issued.
          - Written into the new release as C(ocsp.der), with C(nginx-stapling.conf) (C(ssl_stapling on;) and
            C(ssl_stapling_file) naming that file), both before the switch, so the staple goes live, and back,
            together with the certificate it is about. The site file of M(certfleet.tls.nginx) includes
            C(live/nginx-stapling.conf) through a pattern that matches nothing when a release has no staple, so a
            release without one (a CA that runs no responder, a responder that did not answer) still passes the
            config test and goes live, without stapling.
          - Public data. Ignored when the certificate is already live (the web role refreshes staples).
        type: str
  certificate_dir:
    description: Directory that holds C(live), C(releases/) and C(next/) (single form).
    type: path
  cert:
    description: Leaf certificate, PEM (single form).
    type: str
  chain:
    description: Intermediate certificates, PEM (may be empty).
    type: str
    default: ""
  privkey:
    description:
      - Private key, PEM. By default the key staged in C(<certificate_dir>/next/privkey.pem) is used.
    type: str
  ocsp_response:
    description: The new certificate's OCSP staple (single form), see O(certificates[].ocsp_response).
    type: str
  validity:
    description: The certificate's validity (single form), see O(certificates[].validity).
    type: list
    elements: int
    version_added: 0.3.0
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
  verify_address:
    description: Address the host connects to, to confirm what the server serves after the reload.
    type: str
    default: 127.0.0.1
  verify_port:
    description: HTTPS port to confirm the served certificate on. Without it, nothing is confirmed.
    type: int
  verify_server_name:
    description: SNI name for the confirmation (the certificate's first domain).
    type: str
  verify_timeout:
    description: Seconds to wait for the server to serve the new certificate after the reload.
    type: float
    default: 30
  lock_timeout:
    description: Seconds to wait for another run's lock on this certificate before failing.
    type: float
    default: 120
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
  returned: single form (also in each RV(certificates) entry)
  type: str
  sample: /etc/ssl/certfleet/www.example.org/releases/000002-20261128T170102-3f1a9c2e
previous_release:
  description: Directory C(live) pointed to before the call (null on first deploy).
  returned: single form (also in each RV(certificates) entry)
  type: str
reloaded:
  description: Whether O(reload_command) ran.
  returned: always
  type: bool
certificates:
  description:
    - One entry per certificate (also in the single form), with C(certificate_dir), C(changed), C(release),
      C(previous_release), C(served_serial), C(discarded_staged), C(removed_challenges), C(ocsp_staple) (whether
      the new release got O(certificates[].ocsp_response), when one was written), and C(failed) + C(msg) for a
      certificate that did not go live.
  returned: always
  type: list
  elements: dict
served_serial:
  description: Serial (hex) of the certificate the server served at the confirmation, or after a rollback.
  returned: single form (also in each RV(certificates) entry)
  type: str
discarded_staged:
  description: Whether a stale C(next/) (its key already live) was removed.
  returned: single form (also in each RV(certificates) entry)
  type: bool
removed_challenges:
  description: Challenge and probe files removed from O(webroot).
  returned: single form (also in each RV(certificates) entry)
  type: list
  elements: str
test_output:
  description: Output of O(test_command) (stdout and stderr), when it ran.
  returned: when test_command ran
  type: str
"""

import base64
import binascii
import contextlib
import datetime
import hashlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.certfleet.tls.plugins.module_utils.host_files import (
    DEPLOY_MARKER, STAGED_DIR, VALIDITY_FILE, LockTimeout, atomic_write, certificate_lock, challenge_path, ensure_dir,
    exit_batch, first_pem_certificate, read_bytes, replace_symlink, token_error)

PROBE_PREFIX = "certfleet-probe-"
STAPLE_FILE = "ocsp.der"
NGINX_STAPLING_FILE = "nginx-stapling.conf"
# Nothing that could end or escape the quoted nginx string (the nginx role refuses the same in its paths).
UNSAFE_NGINX_PATH = ('"', "'", "\\", "$", ";", "{", "}", "\n", "\r")


def nginx_stapling_conf(release):
    """The nginx directives that serve a release's staple: the same text as ocsp_staple_file writes."""
    return ("# Written by certfleet.tls beside ocsp.der: nginx staples this release's OCSP response.\n"
            "ssl_stapling on;\n"
            "ssl_stapling_file \"%s\";\n" % os.path.join(release, STAPLE_FILE))


def staple_der(text):
    """DER bytes of a base64 OCSP response (a DER SEQUENCE, RFC 6960 §4.2.1), or None."""
    try:
        der = base64.b64decode(text or "", validate=True)
    except (binascii.Error, ValueError):
        return None
    return der if der and der[0] == 0x30 else None


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


def pair_mismatch(release):
    """None when the key in ``release`` belongs to its certificate, else the TLS library's complaint."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(os.path.join(release, "fullchain.pem"), os.path.join(release, "privkey.pem"))
    except (ssl.SSLError, OSError) as error:
        return str(error)
    return None


def served_der(address, port, server_name, timeout=3.0):
    """DER of the leaf the server presents for ``server_name`` (no verification: we compare bytes), or None."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            with context.wrap_socket(sock, server_hostname=server_name) as tls:
                return tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError, ValueError):
        return None


def der_serial(der):
    """Serial number of a DER certificate, read with a minimal DER walk (the standard library has no parser).

    Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber INTEGER, ... } }
    """
    def header(offset):
        tag, length = der[offset], der[offset + 1]
        offset += 2
        if length & 0x80:
            count = length & 0x7F
            length = int.from_bytes(der[offset:offset + count], "big")
            offset += count
        return tag, length, offset
    try:
        dummy, dummy, pos = header(0)        # Certificate
        dummy, dummy, pos = header(pos)      # tbsCertificate
        tag, length, content = header(pos)
        if tag == 0xA0:                      # explicit version
            pos = content + length
            tag, length, content = header(pos)
        return "%x" % int.from_bytes(der[content:content + length], "big")
    except IndexError:
        return None


def wait_until_served(params, server_name, expected_der, deadline):
    """Poll the server until it presents ``expected_der``; returns (confirmed, serial served last)."""
    served = None
    # A reload takes tens of milliseconds: look again soon, then every 0.3 s (a fixed 0.3 s made every deploy wait
    # at least that long after its reload).
    pauses = [0.02, 0.05, 0.1, 0.2]
    while True:
        served = served_der(params["verify_address"], params["verify_port"], server_name)
        if served == expected_der:
            return True, der_serial(served)
        if time.monotonic() >= deadline:
            return False, der_serial(served) if served else None
        time.sleep(pauses.pop(0) if pauses else 0.3)


class Item:
    """One certificate of the batch: its files, its release, and how to put the previous one back."""

    def __init__(self, module, spec):
        self.module = module
        self.spec = spec
        self.cdir = spec["certificate_dir"]
        self.live = os.path.join(self.cdir, "live")
        self.marker = os.path.join(self.cdir, DEPLOY_MARKER)
        self.cert = first_pem_certificate(spec["cert"].encode())
        self.chain = (spec["chain"].strip() + "\n") if (spec["chain"] or "").strip() else ""
        self.fullchain = (self.cert or "") + self.chain
        staged_key = os.path.join(self.cdir, STAGED_DIR, "privkey.pem")
        self.key = spec["privkey"].encode() if spec["privkey"] else read_bytes(staged_key)
        self.previous = current_release(self.cdir)
        self.owns_release = False  # True once this run wrote the release that live points to
        self.acting = False        # switched now, or finishing an interrupted deploy: needs test, reload, confirm
        self.failure = None
        self.result = dict(certificate_dir=self.cdir, changed=False, release=self.previous,
                           previous_release=self.previous, discarded_staged=False, removed_challenges=[])

    def check(self):
        if self.cert is None:
            return "cert is not a PEM certificate (%s)" % self.cdir
        if os.path.lexists(self.live) and not os.path.islink(self.live):
            return "%s exists and is not a symlink; move it away so releases can be switched atomically" % self.live
        for token in self.spec["challenge_tokens"] or []:
            problem = token_error(token)
            if problem:
                return "challenge_tokens (%s): %s" % (self.cdir, problem)
        return None

    def plan(self):
        """What this item needs: 'nothing', 'finish' (an interrupted deploy of these same files) or 'switch'."""
        live_fullchain = read_bytes(os.path.join(self.live, "fullchain.pem")) if self.previous else None
        live_key = read_bytes(os.path.join(self.live, "privkey.pem")) if self.previous else None
        if live_fullchain == self.fullchain.encode() and (self.key is None or live_key == self.key):
            return "finish" if os.path.exists(self.marker) else "nothing"
        return "switch"

    def write_release(self):
        cdir = self.cdir
        release_id = "%06d-%s-%s" % (next_sequence(os.path.join(cdir, "releases")),
                                     time.strftime("%Y%m%dT%H%M%S", time.gmtime()),
                                     hashlib.sha256(self.fullchain.encode()).hexdigest()[:8])
        release = os.path.join(cdir, "releases", release_id)
        ensure_dir(release, 0o755)
        atomic_write(os.path.join(release, "privkey.pem"), self.key, 0o600)
        atomic_write(os.path.join(release, "cert.pem"), self.cert, 0o644)
        atomic_write(os.path.join(release, "chain.pem"), self.chain, 0o644)
        atomic_write(os.path.join(release, "fullchain.pem"), self.fullchain, 0o644)
        problem = pair_mismatch(release)
        if problem:
            shutil.rmtree(release, ignore_errors=True)
            return ("the private key staged in %s does not belong to this certificate (%s): another run probably "
                    "staged a new key meanwhile; nothing was switched, live still points to %s"
                    % (os.path.join(cdir, STAGED_DIR), problem, self.previous or "nothing"))
        if self.spec.get("validity") and len(self.spec["validity"]) == 2:
            atomic_write(os.path.join(release, VALIDITY_FILE), b"%d %d\n" % tuple(self.spec["validity"]), 0o644)
        self.result.update(changed=True, release=release)
        self.write_staple(release)
        return None

    def write_staple(self, release):
        """The new certificate's staple and the nginx directives that serve it, in its own release. Without a
        usable staple the release has neither: it goes live unstapled rather than not at all."""
        self.result["ocsp_staple"] = False
        if not self.spec.get("ocsp_response"):
            return
        der = staple_der(self.spec["ocsp_response"])
        if der is None:
            self.module.warn("%s: ocsp_response is not a base64 DER OCSP response; the new release goes live "
                             "without a staple" % self.cdir)
            return
        if any(char in release for char in UNSAFE_NGINX_PATH):
            self.module.warn("%s: the release path %r cannot be written into nginx's config; the new release goes "
                             "live without a staple" % (self.cdir, release))
            return
        atomic_write(os.path.join(release, STAPLE_FILE), der, 0o644)
        atomic_write(os.path.join(release, NGINX_STAPLING_FILE), nginx_stapling_conf(release), 0o644)
        self.result["ocsp_staple"] = True

    def switch(self):
        started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        atomic_write(self.marker, json.dumps({"release": self.result["release"], "previous": self.previous,
                                              "started": started}), 0o644)
        self.owns_release = True
        self.acting = True
        replace_symlink(self.live, os.path.relpath(self.result["release"], self.cdir))

    def switch_back(self):
        """Put the previous release back (only what this run switched); the marker goes with it."""
        if self.owns_release:
            if self.previous:
                replace_symlink(self.live, os.path.relpath(self.previous, self.cdir))
            elif os.path.lexists(self.live):
                os.unlink(self.live)
            shutil.rmtree(self.result["release"], ignore_errors=True)
            self.result.update(release=self.previous, changed=False)
        if os.path.exists(self.marker):
            os.unlink(self.marker)

    def confirmed(self):
        if os.path.exists(self.marker):
            os.unlink(self.marker)

    def discard_stale_staged_key(self):
        """next/ whose key is the live key can only do harm: the next run would reuse it and resume its old order."""
        staged = os.path.join(self.cdir, STAGED_DIR)
        live_key = read_bytes(os.path.join(self.live, "privkey.pem"))
        if live_key is not None and read_bytes(os.path.join(staged, "privkey.pem")) == live_key:
            if not self.module.check_mode:
                shutil.rmtree(staged, ignore_errors=True)
            self.result.update(discarded_staged=True, changed=True)

    def remove_challenges(self):
        """The order's challenge files, and every preflight probe (a killed earlier run's included)."""
        webroot = self.spec["webroot"]
        if not webroot:
            return
        tokens = list(self.spec["challenge_tokens"] or [])
        challenge_dir = os.path.dirname(challenge_path(webroot, "x"))
        probes = [n for n in os.listdir(challenge_dir) if n.startswith(PROBE_PREFIX)] if os.path.isdir(challenge_dir) \
            else []
        for token in tokens + [n for n in probes if n not in tokens]:
            path = challenge_path(webroot, token)
            if os.path.lexists(path):
                self.result["removed_challenges"].append(path)
                self.result["changed"] = True
                if not self.module.check_mode:
                    os.unlink(path)


class Batch:
    """Every certificate of the host in one exec: switch all, test once, reload once, confirm each."""

    def __init__(self, module, items):
        self.module = module
        self.params = module.params
        self.items = items
        self.result = dict(changed=False, reloaded=False)

    def served_now(self, item):
        if not self.params["verify_port"]:
            return "not checked (no verify_port)"
        der = served_der(self.params["verify_address"], self.params["verify_port"], item.spec["verify_server_name"])
        if der is None:
            return "nothing: %s:%s answers no TLS handshake" % (self.params["verify_address"],
                                                                self.params["verify_port"])
        item.result["served_serial"] = der_serial(der)
        return "serial %s" % item.result["served_serial"]

    def fail_all(self, acting, why, reload_again, output=""):
        for item in acting:
            item.switch_back()
        reloaded = ""
        if reload_again and self.params["reload_command"]:
            rc, dummy = run(self.params["reload_command"])
            reloaded = "; reloaded again (rc=%d)" % rc
        for item in acting:
            now = ("the server now serves %s" % self.served_now(item)) if reload_again else \
                "the server was not reloaded and keeps serving what it had loaded"
            item.failure = "%s; live points back to %s%s; %s" % (why, item.previous or "nothing (first deploy)",
                                                                 reloaded, now)
            item.result["test_output"] = output

    def run(self):
        params = self.params
        for item in self.items:
            item.failure = item.check()
        work = [item for item in self.items if not item.failure]
        plans = dict((id(item), item.plan()) for item in work)
        for item in work:
            if plans[id(item)] == "switch" and item.key is None:
                item.failure = ("no private key: %s does not exist and privkey is not given (run "
                                "certfleet.tls.certificate_prepare first)" % os.path.join(item.cdir, STAGED_DIR,
                                                                                          "privkey.pem"))
        work = [item for item in work if not item.failure and plans[id(item)] != "nothing"]
        if self.module.check_mode:
            for item in work:
                item.result["changed"] = True
                if self.module._diff:
                    item.result["diff"] = {"before": "live -> %s\n" % item.previous, "after": "live -> a new release\n"}
            return
        for item in work:
            if plans[id(item)] == "switch":
                item.failure = item.write_release()
                if not item.failure:
                    item.switch()
            else:
                item.acting = True  # the files are in place but a killed run never confirmed them
                item.result["changed"] = True
        acting = [item for item in work if item.acting]
        if acting:
            self.test_reload_confirm(acting)
        for item in self.items:
            if not item.failure:
                item.discard_stale_staged_key()
                if item.owns_release:
                    prune(os.path.join(item.cdir, "releases"), max(params["keep_releases"], 2),
                          {os.path.realpath(item.result["release"]), item.previous})

    def test_reload_confirm(self, acting):
        params = self.params
        if params["test_command"]:
            rc, output = run(params["test_command"])
            self.result["test_output"] = output
            if rc != 0:
                return self.fail_all(acting, "web server config test %s failed (rc=%d)"
                                     % (" ".join(params["test_command"]), rc), False, output)
        if params["reload_command"]:
            rc, output = run(params["reload_command"])
            if rc != 0:
                return self.fail_all(acting, "reload %s failed (rc=%d): %s" % (" ".join(params["reload_command"]), rc,
                                                                               output.strip()), True, output)
            self.result["reloaded"] = True
        unconfirmed = []
        if params["verify_port"]:
            deadline = time.monotonic() + params["verify_timeout"]
            for item in acting:
                confirmed, serial = wait_until_served(params, item.spec["verify_server_name"],
                                                      ssl.PEM_cert_to_DER_cert(item.cert.strip()), deadline)
                item.result["served_serial"] = serial
                if not confirmed:
                    unconfirmed.append((item, serial))
        for item in acting:
            if item not in [entry[0] for entry in unconfirmed]:
                item.confirmed()
        if unconfirmed:
            why = "after the reload, %s:%s did not serve the new certificate within %ss" % (
                params["verify_address"], params["verify_port"], params["verify_timeout"])
            self.fail_all([item for item, dummy in unconfirmed], why, True)
            for item, serial in unconfirmed:
                item.failure = item.failure.replace(why, "%s (SNI %s served %s)" % (
                    why, item.spec["verify_server_name"], "serial %s" % serial if serial else "no TLS at all"))
        return None


ITEM_SPEC = dict(
    certificate_dir=dict(type="path", required=True),
    cert=dict(type="str", required=True),
    chain=dict(type="str", default=""),
    privkey=dict(type="str", no_log=True),
    webroot=dict(type="path"),
    challenge_tokens=dict(type="list", elements="str", default=[], no_log=False),
    verify_server_name=dict(type="str"),
    ocsp_response=dict(type="str"),
    validity=dict(type="list", elements="int"),
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            certificates=dict(type="list", elements="dict", options=ITEM_SPEC),
            certificate_dir=dict(type="path"),
            cert=dict(type="str"),
            chain=dict(type="str", default=""),
            privkey=dict(type="str", no_log=True),
            webroot=dict(type="path"),
            challenge_tokens=dict(type="list", elements="str", default=[], no_log=False),
            verify_server_name=dict(type="str"),
            ocsp_response=dict(type="str"),
            validity=dict(type="list", elements="int"),
            test_command=dict(type="list", elements="str"),
            reload_command=dict(type="list", elements="str"),
            keep_releases=dict(type="int", default=3),
            verify_address=dict(type="str", default="127.0.0.1"),
            verify_port=dict(type="int"),
            verify_timeout=dict(type="float", default=30),
            lock_timeout=dict(type="float", default=120),
        ),
        mutually_exclusive=[("certificates", "certificate_dir"), ("certificates", "cert")],
        required_one_of=[("certificates", "certificate_dir")],
        required_together=[("certificate_dir", "cert")],
        supports_check_mode=True,
    )
    params = module.params
    single = params["certificates"] is None
    specs = [dict((key, params[key]) for key in ITEM_SPEC)] if single else params["certificates"]
    for spec in specs:
        if not os.path.isabs(spec["certificate_dir"]):
            module.fail_json(msg="certificate_dir %r is not an absolute path" % spec["certificate_dir"])
    items = [Item(module, spec) for spec in specs]
    batch = Batch(module, items)
    try:
        with contextlib.ExitStack() as locks:
            if not module.check_mode:
                for cdir in sorted(set(item.cdir for item in items)):  # one order: two runs never deadlock
                    locks.enter_context(certificate_lock(cdir, params["lock_timeout"]))
            batch.run()
    except LockTimeout as error:
        module.fail_json(msg=str(error), reloaded=False, certificates=[item.result for item in items])
    for item in items:
        if not item.failure:
            item.remove_challenges()
        if item.failure:
            item.result.update(failed=True, msg=item.failure)
    result = dict(batch.result, certificates=[item.result for item in items])
    result["changed"] = any(item.result["changed"] for item in items) or result["reloaded"]
    if single:
        result.update(dict((key, value) for key, value in items[0].result.items() if key not in ("failed", "msg")))
        result["changed"] = items[0].result["changed"] or batch.result["reloaded"]
    diffs = [item.result.pop("diff") for item in items if "diff" in item.result]
    exit_batch(module, result, [(d["before"], d["after"]) for d in diffs],
               [item.failure for item in items if item.failure])


if __name__ == "__main__":
    main()
