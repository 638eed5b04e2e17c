# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller half of certfleet.tls.certificate_prepare: the decide step of the runbook, in named steps.

    check the request -> read the host -> decide -> choose the key -> stage -> preflight

Why an action plugin: the decision needs ``cryptography`` (the host has only Python), the key must be made
on the control node, and the probe is fetched from the control node. Doing all of it inside one task keeps
a no-op renewal at one task (one host exec) per host. The host side is certfleet.tls.certificate_state.
"""

from __future__ import annotations

import http.client
import os
import secrets

from ansible import constants as C

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.certfleet.tls.plugins.module_utils._acme import decision as decisions
from ansible_collections.certfleet.tls.plugins.module_utils._acme import renewal
from ansible_collections.certfleet.tls.plugins.module_utils._acme.directory import resolve_directory
from ansible_collections.certfleet.tls.plugins.module_utils._tls import keys as tls_keys
from ansible_collections.certfleet.tls.plugins.module_utils._tls import x509info
from ansible_collections.certfleet.tls.plugins.module_utils._tls.targets import certificate_name, verify_target
from ansible_collections.certfleet.tls.plugins.module_utils.certificate_specs import CERTIFICATE_PREPARE_SPEC
from ansible_collections.certfleet.tls.plugins.module_utils.errors import CertfleetError, InputError
from ansible_collections.certfleet.tls.plugins.module_utils.run_key_share import RunKeyShare

HOST_MODULE = "certfleet.tls.certificate_state"
PROBE_PREFIX = "certfleet-probe-"  # certificate_deploy removes every file with this prefix


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


def check_request(args):
    """Every input the control node can check, in every run, before the host or the CA is contacted."""
    if not os.path.isabs(args["certificate_dir"]):
        raise InputError("certificate_dir %r is not an absolute path (a relative one would land in the SSH "
                         "user's home)" % args["certificate_dir"])
    try:
        domains = tls_keys.normalize_domains(args["domains"])
    except InputError as error:
        raise InputError("domains: %s" % error.msg)
    decisions.check_renewal_options(args["renew_at_fraction"], args["renew_before_days"])
    directory_url = resolve_directory(args["acme_directory"])
    if args["preflight"] and not args["webroot"]:
        raise InputError("webroot is required for http-01 (the preflight and the challenge files are written there)")
    if args["webroot"] and not os.path.isabs(args["webroot"]):
        raise InputError("webroot %r is not an absolute path" % args["webroot"])
    return dict(domains=domains, name=certificate_name(domains, args["name"]), directory_url=directory_url)


def _spki_of_csr(csr_pem, what):
    try:
        csr, names = tls_keys.csr_domains(csr_pem, what=what)
    except CertfleetError:
        return None, None
    return tls_keys.spki_sha256(csr.public_key()), names


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(CERTIFICATE_PREPARE_SPEC)

    def _host(self, task_vars, **module_args):
        """Run certificate_state on the host; a failure becomes this task's failure, message intact."""
        outcome = self._execute_module(HOST_MODULE, module_args=module_args, task_vars=task_vars)
        if outcome.get("failed"):
            outcome.pop("invocation", None)
            raise AnsibleActionFail(outcome.get("msg", "certificate_state failed"), result=outcome)
        return outcome

    def _ari(self, cert, args, request):
        """RFC 9773 window of the deployed certificate, or (None, why not). Two unauthenticated GETs."""
        try:
            cert_id = renewal.ari_cert_id(cert)
            info = renewal.anonymous_renewal_info(request["directory_url"], cert, args["acme_ca_bundle"])
        except CertfleetError as error:
            return None, "ARI unavailable: %s" % error.msg
        if info is None:
            return None, "the CA offers no ARI"
        return dict(info, cert_id=cert_id), None

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        dummy, args = self.validate_argument_spec(argument_spec=CERTIFICATE_PREPARE_SPEC)
        try:
            request = check_request(args)
        except CertfleetError as error:
            raise AnsibleActionFail(error.msg)
        domains, name = request["domains"], request["name"]
        cdir = args["certificate_dir"]
        address = args["preflight_address"] or task_vars.get("ansible_host") or self._play_context.remote_addr
        result.update(changed=False, name=name, domains=domains, certificate_dir=cdir, address=address,
                      verify_target=verify_target(task_vars.get("inventory_hostname"), name, address, domains,
                                                  args["verify_port"]))
        try:
            return self._steps(result, args, request, task_vars)
        except AnsibleActionFail as failure:
            # Keep what was learnt (name, reason, current certificate) beside the message: the role reports it.
            raise AnsibleActionFail(failure.message, result=dict(result, **failure.result))

    def _steps(self, result, args, request, task_vars):
        domains, name, cdir, address = request["domains"], request["name"], args["certificate_dir"], result["address"]
        # 1. Read the host: deployed certificate, staged key, order record, unfinished deploy, config test.
        held = self._host(task_vars, step="read", certificate_dir=cdir, webroot=args["webroot"],
                          test_command=args["test_command"] or None)
        cert = x509info.load_certificate(held["live_cert"]) if held.get("live_cert") else None
        live_spki = tls_keys.spki_sha256(cert.public_key()) if cert is not None else None
        staged_spki, staged_names = _spki_of_csr(held["staged_csr"], "staged CSR") if held.get("staged_csr") \
            else (None, None)

        # 2. Decide (ARI only for a certificate from a CA that is not already due by the lifetime rule).
        ari = None
        if args["ari"] and cert is not None and not x509info.is_self_signed(cert):
            ari, ari_note = self._ari(cert, args, request)
            if ari_note:
                result["ari_note"] = ari_note
            else:
                result["ari"] = {"cert_id": ari["cert_id"], "window_start": ari["start"].isoformat(),
                                 "window_end": ari["end"].isoformat(), "explanation_url": ari.get("explanation_url")}
        decision = decisions.decide(cert, domains, renew_at_fraction=args["renew_at_fraction"],
                                    renew_before_days=args["renew_before_days"], ari=ari, force=args["force"],
                                    interrupted_deploy=held.get("interrupted_deploy"))
        result.update(due=decision.due, code=decision.code, reason=decision.reason,
                      remaining_seconds=max(decision.remaining_seconds, 0))
        if decision.renew_at is not None:
            result["renew_at"] = decision.renew_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        if cert is not None:
            result["current"] = x509info.certificate_facts(cert)

        # 3. Choose the key.
        shared = None
        if decision.due and args["backends"] > 1:
            shared = self._shared_key(name, domains, args["key_type"])
        choice = decisions.choose_key(domains, staged_names, staged_spki, live_spki,
                                      shared_spki=_spki_of_csr(shared[1], "shared CSR")[0] if shared else None)
        result.update(key_choice=choice.code, key_reason=choice.reason)
        if choice.discard_staged and not self._task.check_mode:
            # A stale next/ is removed whether or not anything is due: left in place, a later run would reuse it.
            self._host(task_vars, step="discard_staged", certificate_dir=cdir, csr=held["staged_csr"])
            result["changed"] = True
        if not decision.due:
            return result

        stage = {}
        if choice.reuse_staged:
            csr_pem = held["staged_csr"]
        else:
            key_pem, csr_pem = shared or self._new_key(domains, args["key_type"])
            stage = dict(privkey=key_pem, csr=csr_pem)
        result.update(csr=csr_pem, key_reused=choice.reuse_staged)
        if choice.resume_order and held.get("pending_order_url"):
            # A run died after ordering: resume that order (same key, same names) rather than order again.
            result["resume_order_url"] = held["pending_order_url"]
        if result.get("ari"):
            result["replaces"] = result["ari"]["cert_id"]  # RFC 9773 §5: this order replaces that certificate
        if self._task.check_mode:
            result["changed"] = True
            return result

        # 4. Stage the key (under the host's lock) and the preflight probe, in one host exec.
        probe_token = probe_content = None
        if args["preflight"]:
            probe_token = PROBE_PREFIX + secrets.token_urlsafe(16)
            probe_content = "certfleet preflight " + secrets.token_urlsafe(16)
            stage.update(webroot=args["webroot"], probe_token=probe_token, probe_content=probe_content)
        if stage:
            written = self._host(task_vars, step="stage", certificate_dir=cdir, lock_timeout=args["lock_timeout"],
                                 **stage)
            result["changed"] = result["changed"] or written.get("changed", False)

        # 5. Preflight: fetch the probe as the CA would, before the CA is contacted.
        if probe_token:
            result["probe_token"] = probe_token
            failure = self._preflight(args, domains, address, probe_token, probe_content)
            if failure:
                self._host(task_vars, step="remove_probe", certificate_dir=cdir, webroot=args["webroot"],
                           probe_token=probe_token)
                result.pop("probe_token", None)
                result.update(failed=True, **failure)
        return result

    @staticmethod
    def _new_key(domains, key_type):
        key = tls_keys.generate_private_key(key_type)
        return tls_keys.private_key_to_pem(key).decode(), tls_keys.make_csr(key, domains).decode()

    def _shared_key(self, name, domains, key_type):
        """Several hosts serve this name: one key and one order for all of them (one certificate, not one per
        backend: duplicate-certificate rate limits). See RunKeyShare for why a file."""
        share = RunKeyShare(os.path.join(C.DEFAULT_LOCAL_TMP, "certfleet-shared-keys"))
        return share.get(name, lambda: self._new_key(domains, key_type))

    @staticmethod
    def _preflight(args, domains, address, probe_token, probe_content):
        path = ".well-known/acme-challenge/" + probe_token
        for domain in domains:
            status, body = probe(address, args["preflight_port"], domain, path, args["preflight_timeout"])
            if status != 200 or body.strip() != probe_content:
                url = "http://%s/%s" % (domain, path)
                return dict(preflight_url=url, preflight_status=status, preflight_body=body[:300],
                            msg="preflight failed before contacting the CA: GET %s (via %s:%s) answered %s with "
                                "body %r; the CA's HTTP-01 check would fail the same way. Check that "
                                "/.well-known/acme-challenge/ is served from %s (rewrite rules, .htaccess, "
                                "redirects)" % (url, address, args["preflight_port"], status, body[:120],
                                                args["webroot"]))
        return None
