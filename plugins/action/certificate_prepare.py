# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller half of certfleet.tls.certificate_prepare: decide, make the key, preflight.

Why an action plugin: the decision needs ``cryptography`` (the host has only Python), the key must be made
on the control node, and the probe is fetched from the control node. Doing all of it inside one task
keeps a no-op renewal at one task per host.
"""

from __future__ import annotations

import fcntl
import hashlib
import http.client
import json
import os
import secrets

from ansible import constants as C

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.certfleet.tls.plugins.module_utils._acme import renewal
from ansible_collections.certfleet.tls.plugins.module_utils._acme.directory import resolve_directory
from ansible_collections.certfleet.tls.plugins.module_utils.errors import CertfleetError
from ansible_collections.certfleet.tls.plugins.module_utils._tls import keys as tls_keys
from ansible_collections.certfleet.tls.plugins.module_utils._tls import x509info
from ansible_collections.certfleet.tls.plugins.modules.certificate_prepare import ARGUMENT_SPEC, INTERNAL_OPTIONS

MODULE = "certfleet.tls.certificate_prepare"
# The module documents and declares every option once; the action takes the public ones.
ARGSPEC = {name: spec for name, spec in ARGUMENT_SPEC.items() if name not in INTERNAL_OPTIONS}


def probe(address, port, domain, path, timeout):
    """GET http://<domain>/<path> from the control node against ``address``; (status, body) or (None, error)."""
    conn = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        conn.request("GET", "/" + path, headers={"Host": domain, "User-Agent": "certfleet.tls preflight"})
        response = conn.getresponse()
        return response.status, response.read(512).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as error:
        return None, str(error)
    finally:
        conn.close()


def _same_public_key(csr_a, csr_b):
    try:
        key_a = tls_keys.csr_domains(csr_a)[0].public_key()
        key_b = tls_keys.csr_domains(csr_b)[0].public_key()
    except CertfleetError:
        return False
    return tls_keys.spki_sha256(key_a) == tls_keys.spki_sha256(key_b)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGSPEC)

    @staticmethod
    def _shared_key(name, domains, key_type):
        """Key and CSR shared by all backends of ``name`` during this run (workers are forked processes)."""
        directory = os.path.join(C.DEFAULT_LOCAL_TMP, "certfleet-shared-keys")
        os.makedirs(directory, mode=0o700, exist_ok=True)
        path = os.path.join(directory, hashlib.sha256(name.encode()).hexdigest() + ".json")
        with open(os.path.join(directory, ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if os.path.exists(path):
                with open(path) as handle:
                    shared = json.load(handle)
                return shared["key"], shared["csr"]
            key = tls_keys.generate_private_key(key_type)
            shared = {"key": tls_keys.private_key_to_pem(key).decode(), "csr": tls_keys.make_csr(key, domains).decode()}
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(shared, handle)
            return shared["key"], shared["csr"]

    @staticmethod
    def _ari(cert, due, reason, args):
        """RFC 9773: the CA's suggested window decides, when the CA offers one; names and expiry still win."""
        try:
            cert_id = renewal.ari_cert_id(cert)
            info = renewal.anonymous_renewal_info(resolve_directory(args["acme_directory"]), cert,
                                                  args["acme_ca_bundle"])
        except CertfleetError as error:
            return due, "%s (ARI unavailable: %s)" % (reason, error.msg), None
        if info is None:
            return due, "%s (the CA offers no ARI)" % reason, None
        ari_due, ari_reason = renewal.ari_decision(info, cert_id)
        facts = {"cert_id": cert_id, "window_start": info["start"].isoformat(), "window_end": info["end"].isoformat(),
                 "explanation_url": info.get("explanation_url")}
        if "names" in reason or "deployed certificate names" in reason:
            return due, reason, facts
        return ari_due, ari_reason, facts

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        dummy, args = self.validate_argument_spec(argument_spec=ARGSPEC)
        try:
            domains = tls_keys.normalize_domains(args["domains"])
        except CertfleetError as error:
            raise AnsibleActionFail("domains: %s" % error.msg)
        # The default name is the whole set of names: two hosts whose lists merely start alike must not
        # share one order (the order step keeps one request per name).
        name = args["name"] or ",".join(domains)
        if not 0 < args["renew_at_fraction"] < 1:
            raise AnsibleActionFail("renew_at_fraction must be between 0 and 1, got %s" % args["renew_at_fraction"])
        host_args = dict(domains=domains, certificate_dir=args["certificate_dir"])
        state = self._execute_module(MODULE, module_args=host_args, task_vars=task_vars)
        if state.get("failed"):
            return state
        live_pem = state.get("live_cert")
        cert = x509info.load_certificate(live_pem) if live_pem else None
        due, reason, remaining = x509info.renewal_due(
            cert, domains, renew_at_fraction=args["renew_at_fraction"], renew_before_days=args["renew_before_days"])
        if args["ari"] and cert is not None and remaining > 0:
            due, reason, ari = self._ari(cert, due, reason, args)
            if ari:
                result["ari"] = ari
        if args["force"] and not due:
            due, reason = True, "force=true (%s)" % reason
        result.update(changed=False, due=due, reason=reason, name=name, domains=domains,
                      remaining_seconds=remaining)
        if cert is not None:
            result["current"] = x509info.certificate_facts(cert)
        if not due:
            return result

        # Reuse a staged key for the same names (a failed run, or a key pinned in advance).
        staged_csr = state.get("staged_csr")
        key_reused = False
        stage = {}
        if staged_csr:
            try:
                dummy, staged_names = tls_keys.csr_domains(staged_csr, what="staged CSR")
                key_reused = sorted(staged_names) == sorted(domains)
            except CertfleetError:
                key_reused = False
        if args["backends"] > 1:
            # Several hosts serve this name: one key and one order for all of them (one certificate, not one
            # per backend: duplicate-certificate rate limits). The first backend makes the key; the others
            # take it from a file in this ansible-playbook run's private temp dir, removed when the run ends.
            key_pem, csr_pem = self._shared_key(name, domains, args["key_type"])
            key_reused = staged_csr is not None and _same_public_key(staged_csr, csr_pem)
            if not key_reused:
                stage = dict(stage_privkey=key_pem, stage_csr=csr_pem)
        elif key_reused:
            csr_pem = staged_csr
        else:
            key = tls_keys.generate_private_key(args["key_type"])
            csr_pem = tls_keys.make_csr(key, domains).decode()
            stage = dict(stage_privkey=tls_keys.private_key_to_pem(key).decode(), stage_csr=csr_pem)
        probe_token = probe_content = None
        if args["preflight"]:
            if not args["webroot"]:
                raise AnsibleActionFail("preflight needs webroot (or set preflight=false)")
            probe_token = "certfleet-probe-" + secrets.token_urlsafe(16)
            probe_content = "certfleet preflight " + secrets.token_urlsafe(16)
            stage.update(webroot=args["webroot"], probe_token=probe_token, probe_content=probe_content)
        address = args["preflight_address"] or task_vars.get("ansible_host") or self._play_context.remote_addr
        if result.get("ari"):
            result["replaces"] = result["ari"]["cert_id"]  # RFC 9773 §5: this order replaces that certificate
        if key_reused and state.get("pending_order_url"):
            # A run died after ordering: resume that order (same key, same names) rather than order again.
            result["resume_order_url"] = state["pending_order_url"]
        result.update(csr=csr_pem, key_reused=key_reused, address=address,
                      verify_target=dict(name=task_vars.get("inventory_hostname"), certificate=name, address=address,
                                         server_name=domains[0], port=args["verify_port"]))
        if self._task.check_mode:
            result["changed"] = True
            return result
        if stage:
            written = self._execute_module(MODULE, module_args=dict(host_args, **stage), task_vars=task_vars)
            if written.get("failed"):
                written.pop("invocation", None)
                return written
            result["changed"] = written.get("changed", False)
        if probe_token:
            result["probe_token"] = probe_token
            path = ".well-known/acme-challenge/" + probe_token
            for domain in domains:
                status, body = probe(address, args["preflight_port"], domain, path, args["preflight_timeout"])
                if status != 200 or body.strip() != probe_content:
                    self._execute_module(MODULE, module_args=dict(host_args, webroot=args["webroot"],
                                                                  probe_token=probe_token, probe_state="absent"),
                                         task_vars=task_vars)
                    result.pop("probe_token", None)
                    url = "http://%s/%s" % (domain, path)
                    result.update(failed=True, preflight_url=url, preflight_status=status, preflight_body=body[:300],
                                  msg="preflight failed before contacting the CA: GET %s (via %s:%s) answered %s "
                                      "with body %r; the CA's HTTP-01 check would fail the same way. Check that "
                                      "/.well-known/acme-challenge/ is served from %s (rewrite rules, .htaccess, "
                                      "redirects)" % (url, address, args["preflight_port"], status, body[:120],
                                                      args["webroot"]))
                    return result
        return result
