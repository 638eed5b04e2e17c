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
  - B(Stage ahead.) With O(step=read), an item that carries O(certificates[].privkey) and O(certificates[].csr)
    (and a probe) is staged in the same exec, after the reads and the config test, when the host's hint says the
    certificate is probably due - nothing is deployed, C(live) points at C(placeholder), or by
    O(renew_at_fraction) or O(renew_before_days) applied to the validity that M(certfleet.tls.certificate_deploy)
    wrote in C(live/validity), with an hour's margin for clock skew - and nothing is staged yet. The
    entry then says C(staged_ahead). The control node still decides from what was read; it removes what it staged
    ahead for a certificate that is not due. A due host then needs one host exec before its order, not two.
  - O(step=stage) writes the next private key (mode C(0600), in a C(0700) directory) and its CSR to C(next/), and
    the preflight probe file through the same code that writes ACME challenge files. It holds the
    certificate's lock, so it never overwrites C(next/) while another run deploys from it.
  - O(step=remove_probe) removes the probe file after a failed preflight (with the challenge files and the order record
    of an order placed ahead, when given).
  - O(step=discard_staged) removes C(next/) when it still holds the CSR given in O(certificates[].csr) (a stale key that is
    already live, or one staged ahead for a certificate that is not due), under the lock, and the probe file
    O(certificates[].probe_token) when given.
author:
  - certfleet.tls developers (@certfleet)
options:
  step:
    description: What to do (see the description).
    type: str
    choices: [read, stage, remove_probe, discard_staged]
    default: read
  certificates:
    description: The certificates of this host to act on, in one call (one host exec for all of them).
    type: list
    elements: dict
    required: true
    suboptions:
      certificate_dir:
        description: Directory with C(live), C(releases/) and C(next/). Must be absolute.
        type: path
        required: true
      webroot:
        description:
          - Directory the web server serves C(/.well-known/acme-challenge/) from. With O(step=read) it must exist.
        type: path
      privkey:
        description:
          - With O(step=stage), the private key to stage (PEM). Omit it to keep the staged key (probe only).
          - With O(step=read), a key to stage ahead (see the description).
        type: str
      csr:
        description:
          - With O(step=stage), or O(step=read) and a key to stage ahead, the CSR (PEM) of O(certificates[].privkey).
          - With O(step=discard_staged), the staged CSR the caller saw; C(next/) is removed only if it still holds it.
        type: str
      probe_token:
        description:
          - With O(step=stage), O(step=remove_probe) or O(step=discard_staged), the name of the preflight probe file.
          - With O(step=read), the probe to write with a key staged ahead.
        type: str
      probe_content:
        description: With O(step=stage), or O(step=read) and a key to stage ahead, the content of the probe file.
        type: str
      challenges:
        description:
          - With O(step=read), the HTTP-01 challenge files of an order placed ahead for this certificate, written with
            the key staged ahead (and only then), in O(certificates[].webroot).
          - With O(step=remove_probe) or O(step=discard_staged), the same files, removed with the probe.
        type: list
        elements: dict
        suboptions:
          token:
            description: The challenge token (the file name).
            type: str
            required: true
          key_authorization:
            description: The file's content (public, since the CA fetches it over plain HTTP).
            type: str
            required: true
      order_url:
        description:
          - With O(step=read), the order placed ahead; recorded in C(next/order.json) with the key staged ahead, so
            that a run that dies before finalizing resumes it.
          - With O(step=remove_probe), that record is removed if it still names this order (the order is abandoned).
        type: str
  test_command:
    description: With O(step=read), the web server's config test (argv), run once before any order. A failure fails the host.
    type: list
    elements: str
  renew_at_fraction:
    description: With O(step=read), the renewal rule of the stage-ahead hint (see the description).
    type: float
    version_added: 0.3.0
  renew_before_days:
    description: With O(step=read), the renewal rule of the stage-ahead hint; wins over O(renew_at_fraction).
    type: float
    version_added: 0.3.0
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
    certificates:
      - certificate_dir: /etc/ssl/certfleet/www.example.org
        webroot: /var/www/html
    test_command: [nginx, -t]
  register: held
"""

RETURN = r"""
certificates:
  description: One entry per item of O(certificates), in order.
  returned: always
  type: list
  elements: dict
  contains:
    certificate_dir:
      description: The item's directory.
      type: str
    live_cert:
      description: PEM of the deployed leaf certificate (O(step=read), when one is deployed).
      type: str
    staged_csr:
      description: PEM of the CSR staged in C(next/) beside a staged key (O(step=read)).
      type: str
    pending_order_url:
      description: Order recorded in C(next/order.json) by a run that did not finish (O(step=read)).
      type: str
    staged_ahead:
      description:
        - The key and CSR of the item (and its probe) were staged by this read; C(staged_csr) is that CSR.
      type: bool
    interrupted_deploy:
      description: What the marker of a deploy that did not confirm its reload says (O(step=read)).
      type: str
    paths:
      description: Files written or removed for this item.
      type: list
      elements: str
unmanaged:
  description:
    - Certificate directories beside the requested ones (same parent directory, with a C(live) symlink and
      C(releases/)) that no request names any more. Nothing is removed; the caller reports them.
  returned: O(step=read)
  type: list
  elements: str
config_test:
  description: The config test that ran (command, rc, output).
  returned: O(step=read) and O(test_command) is set
  type: dict
"""

import json
import os
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.certfleet.tls.plugins.module_utils.certificate_specs import CERTIFICATE_STATE_SPEC
from ansible_collections.certfleet.tls.plugins.module_utils.host_files import (
    DEPLOY_MARKER, PLACEHOLDER_DIR, VALIDITY_FILE, STAGED_DIR, LockTimeout, atomic_write, certificate_lock,
    ensure_dir, first_pem_certificate, read_bytes, sync_challenges, token_error)


class StepFailed(Exception):
    """Stops the call with a message that names the certificate directory or the input."""


def check_item(item):
    cdir = item["certificate_dir"]
    if not os.path.isabs(cdir):
        raise StepFailed("certificate_dir %r is not an absolute path" % cdir)
    live = os.path.join(cdir, "live")
    if os.path.lexists(live) and not os.path.islink(live):
        raise StepFailed("certificate_dir: %s exists and is not a symlink; move it away so releases can be switched "
                         "atomically" % live)


def read_item(module, item):
    cdir = item["certificate_dir"]
    if item["webroot"] and not os.path.isdir(item["webroot"]):
        raise StepFailed("webroot %s (certificate %s) does not exist or is not a directory: challenge files written "
                         "there would never be served" % (item["webroot"], cdir))
    held = dict(certificate_dir=cdir, paths=[])
    live_cert = first_pem_certificate(read_bytes(os.path.join(cdir, "live", "fullchain.pem")))
    if live_cert:
        held["live_cert"] = live_cert
    staged_csr = read_bytes(os.path.join(cdir, STAGED_DIR, "request.csr"))
    if staged_csr and os.path.exists(os.path.join(cdir, STAGED_DIR, "privkey.pem")):
        held["staged_csr"] = staged_csr.decode("ascii", "replace")
        record = read_bytes(os.path.join(cdir, STAGED_DIR, "order.json"))
        if record:
            try:
                held["pending_order_url"] = json.loads(record.decode("utf-8")).get("order_url")
            except ValueError:
                pass  # a torn record is worth nothing: the next order starts afresh
    marker = read_bytes(os.path.join(cdir, DEPLOY_MARKER))
    if marker is not None:
        try:
            facts = json.loads(marker.decode("utf-8"))
            held["interrupted_deploy"] = "release %s, started %s" % (facts.get("release"), facts.get("started"))
        except ValueError:
            held["interrupted_deploy"] = "unreadable marker %s" % os.path.join(cdir, DEPLOY_MARKER)
    return held


# The host's clock may run ahead of the control node's: without a margin, a host could stage ahead what the control
# node still finds valid, and a run with nothing due would stage and discard.
HINT_MARGIN_SECONDS = 3600


def probably_due(cdir, renew_at_fraction, renew_before_days, now=None):
    """The host's hint for staging ahead: nothing deployed, a placeholder, or past the lifetime rule (the control
    node's decision.lifetime_rule, same formula) by an hour, from the validity the deploy wrote. A foreign
    certificate, or no rule, says no: the control node decides, one exec later."""
    live = os.path.join(cdir, "live")
    if not os.path.exists(os.path.join(live, "fullchain.pem")):
        return True
    try:
        if os.readlink(live).rstrip("/") == PLACEHOLDER_DIR:
            return True
    except OSError:
        return False
    stamp = read_bytes(os.path.join(live, VALIDITY_FILE))
    try:
        not_before, not_after = (int(value) for value in stamp.decode("ascii").split())
    except (AttributeError, ValueError):
        return False
    if renew_before_days is not None:
        renew_at = not_after - renew_before_days * 86400
    elif renew_at_fraction is not None:
        renew_at = not_after - (not_after - not_before) * renew_at_fraction
    else:
        return False
    return (time.time() if now is None else now) >= renew_at + HINT_MARGIN_SECONDS


def stage_ahead(module, items, held, diff):
    """Stage the offered keys (and probes) of the probably due certificates that have nothing staged yet."""
    changed = False
    for item, state in zip(items, held):
        if not item["privkey"] or state.get("staged_csr") or not probably_due(
                item["certificate_dir"], module.params["renew_at_fraction"], module.params["renew_before_days"]):
            continue
        staged = stage_item(module, item, diff, only_if_unstaged=True)
        if staged is None:
            # Another run staged a key since the read: report it as the read would have; nothing written here.
            state["staged_csr"] = read_bytes(os.path.join(item["certificate_dir"], STAGED_DIR,
                                                          "request.csr")).decode("ascii", "replace")
            continue
        state.update(staged_ahead=True, staged_csr=item["csr"], paths=staged["paths"])
        changed = changed or bool(staged["paths"])
    return changed


def unmanaged_dirs(requested):
    """Certificate directories beside the requested ones (same parent, our layout: live symlink + releases/) that
    no request names any more. Their files stay in place (a site may still use them); the caller reports them."""
    wanted = set(os.path.normpath(path) for path in requested)
    found = []
    for parent in sorted(set(os.path.dirname(path) for path in wanted)):
        try:
            names = sorted(os.listdir(parent))
        except OSError:
            continue
        for name in names:
            path = os.path.normpath(os.path.join(parent, name))
            if path not in wanted and os.path.islink(os.path.join(path, "live")) and \
                    os.path.isdir(os.path.join(path, "releases")):
                found.append(path)
    return found


def config_test(module):
    command = module.params["test_command"]
    proc = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          check=False)
    output = proc.stdout.decode("utf-8", "replace")
    result = dict(command=command, rc=proc.returncode, output=output)
    if proc.returncode != 0:
        raise StepFailed("the web server's config test %s already fails on this host (rc=%d), before anything was "
                         "ordered: fix the config first. %s" % (" ".join(command), proc.returncode,
                                                                output.strip()[-400:]))
    return result


def probe_items(item):
    """The probe file and the challenge files of an order placed ahead, as (token, content) pairs."""
    files = [(item["probe_token"], item["probe_content"] or "")] if item["probe_token"] else []
    files += [(c["token"], c["key_authorization"]) for c in item.get("challenges") or []]
    for token, dummy in files:
        problem = token_error(token)
        if problem:
            raise StepFailed("probe_token: %s" % problem if token == item["probe_token"] else
                             "challenges of %s: %s" % (item["certificate_dir"], problem))
    if files and (not item["webroot"] or not os.path.isdir(item["webroot"])):
        raise StepFailed("webroot %s does not exist: the preflight probe cannot be written" % item["webroot"])
    return files


def stage_item(module, item, diff, only_if_unstaged=False):
    """Write the item's key, CSR and probe. ``only_if_unstaged`` (staging ahead): write nothing if another run staged
    a key after this one read the host (checked under the lock) and return None."""
    cdir = item["certificate_dir"]
    staged = os.path.join(cdir, STAGED_DIR)
    paths = []
    probe = probe_items(item)
    if item["privkey"]:
        if not item["csr"]:
            raise StepFailed("csr is required with privkey (%s): a staged key always has its CSR beside it" % cdir)
        paths += [os.path.join(staged, "privkey.pem"), os.path.join(staged, "request.csr")]
        # The key itself never goes into a diff.
        had_key = os.path.exists(os.path.join(staged, "privkey.pem"))
        if not module.check_mode:
            with certificate_lock(cdir, module.params["lock_timeout"]):
                if only_if_unstaged and os.path.exists(os.path.join(staged, "request.csr")):
                    return None
                ensure_dir(staged, 0o700)
                os.chmod(staged, 0o700)  # also when an older run left it wider
                # Key before CSR: a CSR never points at a missing key. The old order record belonged to the old key.
                atomic_write(os.path.join(staged, "privkey.pem"), item["privkey"], 0o600)
                atomic_write(os.path.join(staged, "request.csr"), item["csr"], 0o644)
                if os.path.exists(os.path.join(staged, "order.json")):
                    os.unlink(os.path.join(staged, "order.json"))
                if item.get("order_url"):
                    # An order placed ahead for this key: recorded beside it, as the challenge push would, so that
                    # a run that dies before finalizing is resumed by the next one.
                    atomic_write(os.path.join(staged, "order.json"),
                                 (json.dumps({"order_url": item["order_url"]}, sort_keys=True) + "\n").encode(), 0o644)
                    paths.append(os.path.join(staged, "order.json"))
        diff["before"] += "%s/next/privkey.pem: %s\n" % (cdir, "a previous key" if had_key else "absent")
        diff["after"] += "%s/next/privkey.pem: a new key (content not shown), next/request.csr\n" % cdir
    if probe:
        written, probe_diff = sync_challenges(item["webroot"], probe, "present", module.check_mode)
        paths += written
        diff["after"] += probe_diff["after"]
    return dict(certificate_dir=cdir, paths=paths)


def remove_probe_item(module, item, diff):
    removed, probe_diff = sync_challenges(item["webroot"], probe_items(item), "absent", module.check_mode)
    diff["before"] += probe_diff["before"]
    record = os.path.join(item["certificate_dir"], STAGED_DIR, "order.json")
    if item.get("order_url") and os.path.exists(record):
        # The order placed ahead is abandoned: its record goes, so that the next run does not try to resume it.
        with certificate_lock(item["certificate_dir"], module.params["lock_timeout"]):
            try:
                recorded = json.loads((read_bytes(record) or b"{}").decode("utf-8")).get("order_url")
            except ValueError:
                recorded = None
            if recorded == item["order_url"]:
                removed.append(record)
                if not module.check_mode:
                    os.unlink(record)
    return dict(certificate_dir=item["certificate_dir"], paths=removed)


def discard_staged_item(module, item, diff):
    cdir = item["certificate_dir"]
    staged = os.path.join(cdir, STAGED_DIR)
    probe = []
    if probe_items(item):
        probe, probe_diff = sync_challenges(item["webroot"], probe_items(item), "absent", module.check_mode)
        diff["before"] += probe_diff["before"]
    current = read_bytes(os.path.join(staged, "request.csr"))
    if current is None or (item["csr"] and current.decode("ascii", "replace") != item["csr"]):
        return dict(certificate_dir=cdir, paths=probe)  # another run re-staged meanwhile: not ours to remove
    diff["before"] += "%s/next/: a stale staged key (already live)\n" % cdir
    if not module.check_mode:
        with certificate_lock(cdir, module.params["lock_timeout"]):
            if read_bytes(os.path.join(staged, "request.csr")) == current:
                for name in sorted(os.listdir(staged)):
                    os.unlink(os.path.join(staged, name))
                os.rmdir(staged)
    return dict(certificate_dir=cdir, paths=probe + [staged])


def run_step(module):
    step = module.params["step"]
    items = module.params["certificates"]
    for item in items:
        check_item(item)  # every item before the first write
    result = dict(changed=False)
    diff = {"before": "", "after": ""}
    if step == "read":
        result["certificates"] = [read_item(module, item) for item in items]
        result["unmanaged"] = unmanaged_dirs([item["certificate_dir"] for item in items])
        if module.params["test_command"]:
            result["config_test"] = config_test(module)
        # After the config test: a host that fails it gets nothing staged.
        if not module.check_mode:
            result["changed"] = stage_ahead(module, items, result["certificates"], diff)
        if module._diff and result["changed"]:
            result["diff"] = diff
        return result
    act = dict(stage=stage_item, remove_probe=remove_probe_item, discard_staged=discard_staged_item)[step]
    result["certificates"] = [act(module, item, diff) for item in items]
    result["changed"] = any(entry["paths"] for entry in result["certificates"])
    if module._diff:
        result["diff"] = diff
    return result


def main():
    module = AnsibleModule(argument_spec=CERTIFICATE_STATE_SPEC, supports_check_mode=True)
    try:
        result = run_step(module)
    except (StepFailed, LockTimeout) as error:
        module.fail_json(msg=str(error))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
