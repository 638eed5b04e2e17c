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
served_serial:
  description: Serial (hex) of the certificate the server served at the confirmation, or after a rollback.
  returned: when O(verify_port) is set and the server answered
  type: str
discarded_staged:
  description: Whether a stale C(next/) (its key already live) was removed.
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
    DEPLOY_MARKER, STAGED_DIR, LockTimeout, atomic_write, certificate_lock, challenge_path, ensure_dir,
    first_pem_certificate, read_bytes, replace_symlink, token_error)

PROBE_PREFIX = "certfleet-probe-"


class DeployFailed(Exception):
    """Ends the deploy with a message and the result so far (the live pair is whatever the message says)."""

    def __init__(self, msg, **result):
        super().__init__(msg)
        self.msg = msg
        self.result = result


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


def wait_until_served(params, expected_der):
    """Poll the server until it presents ``expected_der``; returns (confirmed, serial served last)."""
    deadline = time.monotonic() + params["verify_timeout"]
    served = None
    while True:
        served = served_der(params["verify_address"], params["verify_port"], params["verify_server_name"])
        if served == expected_der:
            return True, der_serial(served)
        if time.monotonic() >= deadline:
            return False, der_serial(served) if served else None
        time.sleep(0.3)


class Deploy:
    """One deploy of one certificate: the steps in order, each able to roll back the ones before it."""

    def __init__(self, module, key):
        self.module = module
        self.params = module.params
        self.cdir = self.params["certificate_dir"]
        self.live = os.path.join(self.cdir, "live")
        self.marker = os.path.join(self.cdir, DEPLOY_MARKER)
        self.key = key
        self.previous = current_release(self.cdir)
        self.owns_release = False  # True once this run wrote the release that live points to
        self.result = dict(changed=False, release=self.previous, previous_release=self.previous, reloaded=False)

    def served_now(self):
        """What the server serves now, for an honest failure message (only when we can look)."""
        if not self.params["verify_port"]:
            return "not checked (no verify_port)"
        der = served_der(self.params["verify_address"], self.params["verify_port"], self.params["verify_server_name"])
        if der is None:
            return "nothing: %s:%s answers no TLS handshake" % (self.params["verify_address"],
                                                                self.params["verify_port"])
        self.result["served_serial"] = der_serial(der)
        return "serial %s" % self.result["served_serial"]

    def roll_back(self, why, output, reload_again):
        if not self.owns_release:
            # Finishing an interrupted deploy: these files are the wanted ones, there is nothing older to restore.
            raise DeployFailed("%s; live still points to %s; the server now serves %s"
                               % (why, self.previous, self.served_now()), test_output=output,
                               release=self.previous, previous_release=self.previous, reloaded=bool(reload_again))
        if self.previous:
            replace_symlink(self.live, os.path.relpath(self.previous, self.cdir))
        elif os.path.lexists(self.live):
            os.unlink(self.live)
        shutil.rmtree(self.result["release"], ignore_errors=True)
        reloaded = ""
        if reload_again and self.params["reload_command"]:
            rc, dummy = run(self.params["reload_command"])
            reloaded = "; reloaded again (rc=%d)" % rc
        if os.path.exists(self.marker):
            os.unlink(self.marker)
        if reload_again:
            now = "the server now serves %s" % self.served_now()
        else:
            now = "the server was not reloaded and keeps serving what it had loaded"
        raise DeployFailed("%s; live points back to %s%s; %s" % (why, self.previous or "nothing (first deploy)",
                                                                 reloaded, now),
                           test_output=output, release=self.previous, previous_release=self.previous,
                           reloaded=bool(reload_again))

    def write_release(self, cert, chain, fullchain):
        release_id = "%06d-%s-%s" % (next_sequence(os.path.join(self.cdir, "releases")),
                                     time.strftime("%Y%m%dT%H%M%S", time.gmtime()),
                                     hashlib.sha256(fullchain.encode()).hexdigest()[:8])
        release = os.path.join(self.cdir, "releases", release_id)
        self.result.update(changed=True, release=release)
        ensure_dir(release, 0o755)
        atomic_write(os.path.join(release, "privkey.pem"), self.key, 0o600)
        atomic_write(os.path.join(release, "cert.pem"), cert, 0o644)
        atomic_write(os.path.join(release, "chain.pem"), chain, 0o644)
        atomic_write(os.path.join(release, "fullchain.pem"), fullchain, 0o644)
        problem = pair_mismatch(release)
        if problem:
            shutil.rmtree(release, ignore_errors=True)
            raise DeployFailed("the private key staged in %s does not belong to this certificate (%s): another run "
                               "probably staged a new key meanwhile; nothing was switched, live still points to %s"
                               % (os.path.join(self.cdir, STAGED_DIR), problem, self.previous or "nothing"),
                               release=self.previous, previous_release=self.previous, reloaded=False)
        return release

    def switch_and_confirm(self, release, cert):
        started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        atomic_write(self.marker, json.dumps({"release": release, "previous": self.previous, "started": started}),
                     0o644)
        self.owns_release = True
        replace_symlink(self.live, os.path.relpath(release, self.cdir))
        self.reload_and_confirm(cert)

    def reload_and_confirm(self, cert):
        params = self.params
        if params["test_command"]:
            rc, output = run(params["test_command"])
            self.result["test_output"] = output
            if rc != 0:
                self.roll_back("web server config test %s failed (rc=%d)" % (" ".join(params["test_command"]), rc),
                               output, reload_again=False)
        if params["reload_command"]:
            rc, output = run(params["reload_command"])
            if rc != 0:
                self.roll_back("reload %s failed (rc=%d): %s" % (" ".join(params["reload_command"]), rc,
                                                                 output.strip()), output, reload_again=True)
            self.result["reloaded"] = True
        if params["verify_port"]:
            confirmed, serial = wait_until_served(params, ssl.PEM_cert_to_DER_cert(cert.strip()))
            self.result["served_serial"] = serial
            if not confirmed:
                self.roll_back("after the reload, %s:%s did not serve the new certificate within %ss (it served %s)"
                               % (params["verify_address"], params["verify_port"], params["verify_timeout"],
                                  "serial %s" % serial if serial else "no TLS at all"), "", reload_again=True)
        if os.path.exists(self.marker):
            os.unlink(self.marker)

    def discard_stale_staged_key(self):
        """next/ whose key is the live key can only do harm: the next run would reuse it and resume its old order."""
        staged = os.path.join(self.cdir, STAGED_DIR)
        live_key = read_bytes(os.path.join(self.live, "privkey.pem"))
        if live_key is not None and read_bytes(os.path.join(staged, "privkey.pem")) == live_key:
            if not self.module.check_mode:
                shutil.rmtree(staged, ignore_errors=True)
            return True
        return False


def remove_challenges(module):
    """The order's challenge files, and every preflight probe (a killed earlier run's included)."""
    params = module.params
    removed = []
    if not params["webroot"]:
        return removed
    challenge_dir = os.path.dirname(challenge_path(params["webroot"], "x"))
    probes = [n for n in os.listdir(challenge_dir) if n.startswith(PROBE_PREFIX)] if os.path.isdir(challenge_dir) else []
    for token in list(params["challenge_tokens"]) + [n for n in probes if n not in params["challenge_tokens"]]:
        path = challenge_path(params["webroot"], token)
        if os.path.lexists(path):
            removed.append(path)
            if not module.check_mode:
                os.unlink(path)
    return removed


def deploy(module, cert, chain):
    params = module.params
    cdir = params["certificate_dir"]
    fullchain = cert + chain
    key = params["privkey"].encode() if params["privkey"] else read_bytes(os.path.join(cdir, STAGED_DIR, "privkey.pem"))
    step = Deploy(module, key)
    live_fullchain = read_bytes(os.path.join(step.live, "fullchain.pem")) if step.previous else None
    live_key = read_bytes(os.path.join(step.live, "privkey.pem")) if step.previous else None
    same = live_fullchain == fullchain.encode() and (key is None or live_key == key)
    interrupted = os.path.exists(step.marker)
    if not same:
        if key is None:
            raise DeployFailed("no private key: %s does not exist and privkey is not given (run "
                               "certfleet.tls.certificate_prepare first)" % os.path.join(cdir, STAGED_DIR, "privkey.pem"))
        if module._diff:
            step.result["diff"] = {"before": "live -> %s\n" % step.previous, "after": "live -> a new release\n"}
        step.result["changed"] = True
        if not module.check_mode:
            step.switch_and_confirm(step.write_release(cert, chain, fullchain), cert)
            prune(os.path.join(cdir, "releases"), max(params["keep_releases"], 2),
                  {os.path.realpath(step.result["release"]), step.previous})
    elif interrupted:
        # The files are in place but a killed run never confirmed that the server loaded them.
        step.result["changed"] = True
        if not module.check_mode:
            step.reload_and_confirm(cert)
    step.result["discarded_staged"] = step.discard_stale_staged_key()
    step.result["changed"] = step.result["changed"] or step.result["discarded_staged"]
    return step.result


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
            verify_address=dict(type="str", default="127.0.0.1"),
            verify_port=dict(type="int"),
            verify_server_name=dict(type="str"),
            verify_timeout=dict(type="float", default=30),
            lock_timeout=dict(type="float", default=120),
        ),
        supports_check_mode=True,
    )
    params = module.params
    cdir = params["certificate_dir"]
    cert = first_pem_certificate(params["cert"].encode())
    chain = (params["chain"].strip() + "\n") if params["chain"].strip() else ""
    if not os.path.isabs(cdir):
        module.fail_json(msg="certificate_dir %r is not an absolute path" % cdir)
    if cert is None:
        module.fail_json(msg="cert is not a PEM certificate")
    if os.path.lexists(os.path.join(cdir, "live")) and not os.path.islink(os.path.join(cdir, "live")):
        module.fail_json(msg="%s exists and is not a symlink; move it away so releases can be switched atomically"
                         % os.path.join(cdir, "live"))
    for token in params["challenge_tokens"]:
        problem = token_error(token)
        if problem:
            module.fail_json(msg="challenge_tokens: %s" % problem)
    try:
        if module.check_mode:
            result = deploy(module, cert, chain)
        else:
            with certificate_lock(cdir, params["lock_timeout"]):
                result = deploy(module, cert, chain)
    except DeployFailed as failure:
        module.fail_json(msg=failure.msg, removed_challenges=[], **failure.result)
    except LockTimeout as error:
        module.fail_json(msg=str(error), release=current_release(cdir), reloaded=False, removed_challenges=[])
    removed = remove_challenges(module)
    result["removed_challenges"] = removed
    result["changed"] = result["changed"] or bool(removed)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
