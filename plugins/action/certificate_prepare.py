# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller half of certfleet.tls.certificate_prepare: the decide step of the runbook, in named steps.

    check the requests -> read the host -> decide -> choose the key -> stage -> preflight

Every certificate of the host goes through each step together: one host exec reads them all (and stages ahead
the keys of those the host's hint finds probably due), one more stages what the hint did not see coming.

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
from ansible_collections.certfleet.tls.plugins.module_utils import keystore
from ansible_collections.certfleet.tls.plugins.module_utils._tls import keys as tls_keys
from ansible_collections.certfleet.tls.plugins.module_utils._tls import pins as tls_pins
from ansible_collections.certfleet.tls.plugins.module_utils._tls import x509info
from ansible_collections.certfleet.tls.plugins.module_utils._tls.targets import verify_target
from ansible_collections.certfleet.tls.plugins.module_utils.certificate_specs import AHEAD_KEY_TYPES, CERTIFICATE_PREPARE_SPEC
from ansible_collections.certfleet.tls.plugins.module_utils.errors import CertfleetError, InputError
from ansible_collections.certfleet.tls.plugins.module_utils.run_key_share import RunKeyShare
from ansible_collections.certfleet.tls.plugins.plugin_utils.requests import RequestError, normalize_requests

HOST_MODULE = "certfleet.tls.certificate_state"
PROBE_PREFIX = "certfleet-probe-"  # certificate_deploy removes every file with this prefix
WARM_FILTER = "certfleet.tls.host_results"  # any filter of the collection: the loader imports them all


def warm_collection_filters():
    """Import the collection's filter plugins in the process that imports this module, and say whether it worked.

    Ansible's strategy imports an action plugin in the controller's main process (to read its class) before it
    forks one worker per host and task, and a fork inherits every module imported so far. The certificate role's
    per-host steps (the challenge push, the deploy, certificate_results, the failure check) template the collection's
    filters; a worker that finds them unimported compiles every filter file of the collection (the collection
    loader keeps no bytecode): 0.05-0.1 CPU-s per host and task, measured on the rig (docs/benchmarks.md). Imported
    once here, before the first such step, they cost each worker nothing. A failure only loses the speed-up: the
    workers load the filters themselves and report any real error there, with the template that uses them.
    """
    try:
        from ansible.plugins.loader import filter_loader  # pylint: disable=import-outside-toplevel
        return filter_loader.get(WARM_FILTER) is not None
    except Exception:  # pylint: disable=broad-except
        return False


FILTERS_WARM = warm_collection_filters()


def warm_key_generation():
    """Make one EC key and CSR in the process that imports this module, and say whether it worked.

    For the same reason as warm_collection_filters: OpenSSL sets up its EC and signing code lazily, at the first key
    made, and a forked worker that does it first keeps that set-up as private memory (1.6 MB per worker and task on
    the rig, docs/benchmarks.md); made once in Ansible's main process, every worker shares it. A failure only loses
    the saving: the first key of each worker then sets it up, and any real error shows there, with its certificate.
    """
    try:
        key = tls_keys.generate_private_key("ec256")
        tls_keys.make_csr(key, ["warm-up.invalid"])
        return True
    except Exception:  # pylint: disable=broad-except
        return False


KEYS_WARM = warm_key_generation()


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


def check_requests(args):
    """Every input the control node can check, in every run, before the host or the CA is contacted."""
    try:
        if args["requests"]:
            requests = normalize_requests(args["requests"])
        elif args["domains"] or args["certificate_dir"]:
            requests = normalize_requests(None, args["domains"] or [], args["certificate_dir"], args["webroot"],
                                          args["name"])
        else:
            requests = []
    except RequestError as error:
        raise InputError(str(error))
    if not requests:
        raise InputError("no certificate requested: give requests (certificate_requests in the role) or domains and "
                         "certificate_dir (certificate_domains, certificate_dir and certificate_webroot)")
    decisions.check_renewal_options(args["renew_at_fraction"], args["renew_before_days"])
    directory_url = resolve_directory(args["acme_directory"])
    for request in requests:
        label = "certificate %s" % request["name"]
        if request["challenge"] not in ("http-01", "dns-01"):
            raise InputError("%s: challenge %r is not supported (http-01 or dns-01)" % (label, request["challenge"]))
        if request["challenge"] == "dns-01" and not args["dns_configured"]:
            raise InputError("%s: challenge dns-01 needs certificate_dns_server and a TSIG key "
                             "(certificate_dns_tsig_key_file, or certificate_dns_tsig_key_name + "
                             "certificate_dns_tsig_key_secret)" % label)
        if not os.path.isabs(request["dir"]):
            raise InputError("%s: certificate_dir %r is not an absolute path (a relative one would land in the SSH "
                             "user's home)" % (label, request["dir"]))
        if args["preflight"] and request["challenge"] == "http-01" and not request["webroot"]:
            raise InputError("%s: webroot is required for http-01 (the preflight and the challenge files are written "
                             "there)" % label)
        if request["webroot"] and not os.path.isabs(request["webroot"]):
            raise InputError("%s: webroot %r is not an absolute path" % (label, request["webroot"]))
        request["key_type"] = request.get("key_type") or args["key_type"]
        request["key_policy"] = request.get("key_policy") or args["key_policy"]
        if request["key_policy"] not in keystore.POLICIES:
            raise InputError("%s: key_policy %r is not one of %s" % (label, request["key_policy"],
                                                                     ", ".join(keystore.POLICIES)))
    return requests, directory_url


def _spki_of_csr(csr_pem, what):
    try:
        csr, names = tls_keys.csr_domains(csr_pem, what=what)
    except CertfleetError:
        return None, None
    return tls_keys.spki_sha256(csr.public_key()), names


def _backend_count(backends, name):
    """``backends`` is a count (single form) or {certificate name: number of hosts of the run that serve it}."""
    if isinstance(backends, dict):
        return int(backends.get(name, 1))
    return int(backends or 1)


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

    def _ari(self, cert, args, directory_url):
        """RFC 9773 window of the deployed certificate, or (None, why not). Two unauthenticated GETs."""
        try:
            cert_id = renewal.ari_cert_id(cert)
            info = renewal.anonymous_renewal_info(directory_url, cert, args["acme_ca_bundle"])
        except CertfleetError as error:
            return None, "ARI unavailable: %s" % error.msg
        if info is None:
            return None, "the CA offers no ARI"
        return dict(info, cert_id=cert_id), None

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        dummy, args = self.validate_argument_spec(argument_spec=CERTIFICATE_PREPARE_SPEC)
        try:
            requests, directory_url = check_requests(args)
        except CertfleetError as error:
            raise AnsibleActionFail(error.msg)
        address = args["preflight_address"] or task_vars.get("ansible_host") or self._play_context.remote_addr
        host = task_vars.get("inventory_hostname")
        plans = [dict(name=r["name"], domains=r["domains"], certificate_dir=r["dir"], webroot=r["webroot"],
                      key_type=r["key_type"], profile=r.get("profile"), challenge=r["challenge"],
                      challenge_type=r["challenge"], key_policy=r["key_policy"], address=address,
                      verify_target=verify_target(host, r["name"], address, r["domains"], args["verify_port"]))
                 for r in requests]
        result.update(changed=False, address=address, certificates=plans)
        try:
            self._steps(result, args, plans, directory_url, task_vars)
        except AnsibleActionFail as failure:
            # Keep what was learnt (names, reasons, current certificates) beside the message: the role reports it.
            raise AnsibleActionFail(failure.message, result=dict(result, **failure.result))
        result["due"] = any(plan["due"] and not plan.get("failed") for plan in plans)
        result["due_names"] = [plan["name"] for plan in plans if plan["due"] and not plan.get("failed")]
        result["failed_names"] = [plan["name"] for plan in plans if plan.get("failed")]
        if not args["requests"]:
            # Single form (domains + certificate_dir): the one plan's fields at the top, and its failure is the task's.
            result.update(dict((k, v) for k, v in plans[0].items() if k not in ("failed", "msg")))
            if plans[0].get("failed"):
                result.update(failed=True, msg=plans[0]["msg"])
        return result

    def _steps(self, result, args, plans, directory_url, task_vars):
        # 1. Read the host: every deployed certificate, staged key, order record, unfinished deploy; the config test.
        #    Stage ahead, in the same exec, what the host's hint says is probably due (see _ahead_items).
        orders = self._orders_ahead(args)
        ahead = self._ahead_items(plans, args, orders)
        held = self._host(task_vars, step="read", test_command=args["test_command"] or None,
                          lock_timeout=args["lock_timeout"], renew_at_fraction=args["renew_at_fraction"],
                          renew_before_days=args["renew_before_days"],
                          certificates=[dict(certificate_dir=p["certificate_dir"], webroot=p["webroot"],
                                             **ahead.get(p["certificate_dir"], {})) for p in plans])
        result["changed"] = bool(held.get("changed"))
        for plan, state in zip(plans, held["certificates"]):
            if state.get("staged_ahead"):  # the CSR and probe (never the key: plans are returned)
                plan["_ahead"] = dict((k, v) for k, v in ahead[plan["certificate_dir"]].items() if k != "privkey")
            self._decide(plan, state, args, directory_url)
            if plan["name"] in args["incomplete_backends"]:
                # Part of a backend group outside this run (a job slice, --limit): never ordered from here.
                plan.update(failed=True, msg=args["incomplete_backends"][plan["name"]])
                plan.pop("_state", None)
        result["unmanaged"] = held.get("unmanaged", [])
        for plan in plans:
            if plan["key_policy"] in keystore.STORE_POLICIES and not plan.get("failed"):
                try:
                    self._store_keys(plan, args, create=plan["due"])
                    self._due_for_store_key(plan, args)
                except CertfleetError as error:
                    raise AnsibleActionFail(error.msg)
        stale = [dict(certificate_dir=p["certificate_dir"], csr=p.pop("_staged_csr")) for p in plans
                 if p.get("_discard")]
        # What the read staged ahead for a certificate that is not due after all (the hint was wrong: a changed rule,
        # a failed backend group): its key and probe go, in the same exec as a stale next/.
        stale += [dict(certificate_dir=p["certificate_dir"], csr=p["_ahead"]["csr"], webroot=p["webroot"],
                       probe_token=p["_ahead"].get("probe_token"), challenges=p["_ahead"].get("challenges"))
                  for p in plans if p.get("_ahead") and not (p["due"] and not p.get("failed"))]
        if stale and not self._task.check_mode:
            # A stale next/ is removed whether or not anything is due: left in place, a later run would reuse it.
            self._host(task_vars, step="discard_staged", certificates=stale)
            result["changed"] = True
        due = [plan for plan in plans if plan["due"] and not plan.get("failed")]
        for plan in plans:
            plan.pop("_staged_csr", None)
            plan.pop("_discard", None)
            plan.pop("_state_kept", None)
            if not plan.get("due") or plan.get("failed"):
                plan.pop("_ahead", None)
        if not due:
            return
        stage = self._choose_keys(due, args)
        if self._task.check_mode:
            result["changed"] = True
            return

        # 4. Stage the keys (under each certificate's lock on the host) and the preflight probes, in one host exec;
        #    nothing to do for what the read staged ahead (its key is the staged one, its probe is written).
        contents = {}
        if args["preflight"]:
            for plan, item in zip(due, stage):
                if plan.get("_ahead", {}).get("probe_token"):
                    plan["probe_token"] = plan["_ahead"]["probe_token"]
                    contents[plan["certificate_dir"]] = plan["_ahead"]["probe_content"]
                elif plan["challenge"] == "http-01":
                    plan["probe_token"] = PROBE_PREFIX + secrets.token_urlsafe(16)
                    item.update(webroot=plan["webroot"], probe_token=plan["probe_token"],
                                probe_content="certfleet preflight " + secrets.token_urlsafe(16))
                    contents[plan["certificate_dir"]] = item["probe_content"]
        # An order placed ahead that the read did not write (the host's hint said valid, a key staged earlier): its
        # files go with this stage exec, so that it needs no challenge push either.
        for plan, item in zip(due, stage):
            # (not when a run that died recorded its order: that one is resumed, results.run_orders)
            files = {} if plan.get("_ahead", {}).get("order_url") or plan.get("resume_order_url") \
                else self._order_files(plan, orders)
            if files:
                item.update(files, webroot=plan["webroot"])
                plan["_ahead"] = dict(plan.get("_ahead") or {}, **files)
        for plan in plans:
            ahead = plan.pop("_ahead", None) or {}
            if ahead.get("order_url"):
                # Its order was placed before this task and its challenge files were written by the read: the role
                # finalizes it without a push (results.orders_to_finalize), once the preflight below passes.
                plan.update(ahead_order_url=ahead["order_url"], _ahead_challenges=ahead.get("challenges") or [])
        stage = [item for item in stage if len(item) > 1]  # certificate_dir alone: nothing to write
        if stage:
            written = self._host(task_vars, step="stage", lock_timeout=args["lock_timeout"], certificates=stage)
            result["changed"] = result["changed"] or written.get("changed", False)

        # 5. Preflight: fetch each probe as the CA would, before the CA is contacted.
        failed_probes = []
        for plan in due:
            if plan.get("probe_token"):
                failure = self._preflight(args, plan, contents[plan["certificate_dir"]],
                                          ordered=bool(plan.get("ahead_order_url")))
                if failure:
                    plan.update(failed=True, **failure)
                    plan["_failed_ahead_url"] = plan.pop("ahead_order_url", None)  # never answered: the role abandons it
                    failed_probes.append(dict(certificate_dir=plan["certificate_dir"], webroot=plan["webroot"],
                                              probe_token=plan.pop("probe_token"),
                                              challenges=plan.get("_ahead_challenges") or None,
                                              order_url=plan.pop("_failed_ahead_url", None)))
        for plan in plans:
            plan.pop("_ahead_challenges", None)
        if failed_probes:
            self._host(task_vars, step="remove_probe", certificates=failed_probes)

    def _decide(self, plan, state, args, directory_url):
        # 2. Decide (ARI only for a certificate from a CA).
        cert = x509info.load_certificate(state["live_cert"]) if state.get("live_cert") else None
        ari = None
        if args["ari"] and cert is not None and not x509info.is_self_signed(cert):
            ari, ari_note = self._ari(cert, args, directory_url)
            if ari_note:
                plan["ari_note"] = ari_note
            else:
                plan["ari"] = {"cert_id": ari["cert_id"], "window_start": ari["start"].isoformat(),
                               "window_end": ari["end"].isoformat(), "explanation_url": ari.get("explanation_url")}
        decision = decisions.decide(cert, plan["domains"], renew_at_fraction=args["renew_at_fraction"],
                                    renew_before_days=args["renew_before_days"], ari=ari, force=args["force"],
                                    interrupted_deploy=state.get("interrupted_deploy"))
        plan.update(due=decision.due, code=decision.code, reason=decision.reason,
                    remaining_seconds=max(decision.remaining_seconds, 0))
        if decision.renew_at is not None:
            plan["renew_at"] = decision.renew_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        if cert is not None:
            plan["current"] = x509info.certificate_facts(cert)
        staged_spki, staged_names = _spki_of_csr(state["staged_csr"], "staged CSR") if state.get("staged_csr") \
            else (None, None)
        plan["_state"] = dict(staged_csr=state.get("staged_csr"), staged_spki=staged_spki, staged_names=staged_names,
                              live_spki=tls_keys.spki_sha256(cert.public_key()) if cert is not None else None,
                              pending_order_url=state.get("pending_order_url"))
        if staged_spki is not None and staged_spki == plan["_state"]["live_spki"]:
            plan.update(_discard=True, _staged_csr=state["staged_csr"])
            plan["_state"].update(staged_csr=None, staged_spki=None, staged_names=None, pending_order_url=None)
            plan.update(key_choice=decisions.KEY_STAGED_STALE,
                        key_reason="the staged key was already live: discarded")
        if not decision.due:
            plan["_state_kept"] = plan.pop("_state")

    def _choose_keys(self, due, args):
        """3. Choose each due certificate's key; returns the stage items (key and CSR where a new key is made)."""
        stage = []
        for plan in due:
            state = plan.pop("_state")
            shared = None
            if plan.get("_keyset") is not None:
                # The operator's key store (policy reuse or pinned): order with its active key, made once and
                # shared by every backend through the store's own lock.
                keyset = plan.pop("_keyset")
                if keyset.active_pem is None:  # check mode on an empty store: the key would be made now
                    plan.update(key_choice="store", key_reason="the store's active key (made at the first run)")
                    stage.append(dict(certificate_dir=plan["certificate_dir"]))
                    continue
                csr = keyset.active_csr_pem or tls_keys.make_csr(
                    tls_keys.load_private_key(keyset.active_pem, what="active key of %s" % plan["name"]),
                    plan["domains"]).decode()
                shared = (keyset.active_pem, csr)
            elif _backend_count(args["backends"], plan["name"]) > 1:
                shared = self._shared_key(plan["name"], plan["domains"], plan["key_type"])
            choice = decisions.choose_key(plan["domains"], state["staged_names"], state["staged_spki"],
                                          state["live_spki"],
                                          shared_spki=_spki_of_csr(shared[1], "shared CSR")[0] if shared else None)
            plan.update(key_choice=plan.get("key_choice") or choice.code, key_reason=choice.reason)
            if plan.get("_ahead") and choice.reuse_staged:
                plan.update(key_choice="staged_ahead", key_reason="a new key, staged by the read (the host's hint "
                                                                  "said the certificate was probably due)")
            if plan["key_policy"] in keystore.STORE_POLICIES:
                plan.update(key_choice="store_" + ("staged" if choice.reuse_staged else "active"),
                            key_reason="the key store's active key (policy %s)" % plan["key_policy"])
            item = dict(certificate_dir=plan["certificate_dir"])
            if choice.reuse_staged:
                plan["csr"] = state["staged_csr"]
            else:
                key_pem, plan["csr"] = shared or self._new_key(plan["domains"], plan["key_type"])
                item.update(privkey=key_pem, csr=plan["csr"])
            plan["key_reused"] = choice.reuse_staged
            if choice.resume_order and state["pending_order_url"]:
                # A run died after ordering: resume that order (same key, same names) rather than order again.
                plan["resume_order_url"] = state["pending_order_url"]
            if plan.get("ari"):
                plan["replaces"] = plan["ari"]["cert_id"]  # RFC 9773 §5: this order replaces that certificate
            stage.append(item)
        return stage

    def _ahead_items(self, plans, args, orders):
        """{certificate_dir: key, CSR and probe} to offer the read for staging ahead. Only where staging ahead can be
        right without the decision: a key of this host alone (not a backend group's shared key, not the key store's)
        of an EC type (made in a millisecond, so a run with nothing due wastes nothing that matters). The host stages
        it only if its hint says due and nothing is staged; it never leaves the host's memory otherwise.
        With an order placed ahead for the certificate (``ahead_orders``), its challenge files and order record go
        with the key: the host then needs no challenge push."""
        if self._task.check_mode:
            return {}
        ahead = {}
        for plan in plans:
            if plan["key_policy"] != keystore.ROTATE_EACH_ISSUE or plan["key_type"] not in AHEAD_KEY_TYPES \
                    or _backend_count(args["backends"], plan["name"]) > 1 or plan["name"] in args["incomplete_backends"]:
                continue
            key_pem, csr = self._new_key(plan["domains"], plan["key_type"])
            item = dict(privkey=key_pem, csr=csr)
            if args["preflight"] and plan["challenge"] == "http-01" and plan["webroot"]:
                item.update(probe_token=PROBE_PREFIX + secrets.token_urlsafe(16),
                            probe_content="certfleet preflight " + secrets.token_urlsafe(16))
            item.update(self._order_files(plan, orders))
            ahead[plan["certificate_dir"]] = item
        return ahead

    @staticmethod
    def _orders_ahead(args):
        """The orders the role placed ahead for this host (certificate_order_ahead), by certificate name."""
        return dict((o.get("name"), o) for o in args["ahead_orders"] or []
                    if o.get("order_url") and not o.get("failed") and o.get("challenge_type", "http-01") == "http-01")

    @staticmethod
    def _order_files(plan, orders):
        """The challenge files and order record of the plan's order placed ahead, for a certificate_state item
        ({} without one: an HTTP-01 order for exactly the plan's names, and a webroot to write them to)."""
        order = orders.get(plan["name"])
        if order is None or plan["challenge"] != "http-01" or not plan["webroot"] \
                or sorted(order.get("domains") or []) != sorted(plan["domains"]):
            return {}
        return dict(order_url=order["order_url"],
                    challenges=[dict(token=c["token"], key_authorization=c["key_authorization"])
                                for c in order.get("challenges") or []])

    def _due_for_store_key(self, plan, args):
        """Valid, but not with the store's active key (a rotation, a new key policy): due, with the store's key."""
        if plan["due"] or not plan.get("current"):
            return
        decision = decisions.Decision(False, plan["code"], plan["reason"], plan["remaining_seconds"], None)
        changed = decisions.key_changed(decision, plan["current"]["spki_sha256"], (plan.get("pins") or {}).get("active"))
        if changed.due:
            plan.update(due=True, code=changed.code, reason=changed.reason)
            self._store_keys(plan, args, create=True)
            state = plan.get("_state_kept")
            if state is not None:
                plan["_state"] = state

    def _store_keys(self, plan, args, create):
        """The certificate's keys in the operator's store: pins and TLSA data always, the active key when due."""
        contents = args["key_contents"].get(plan["name"])
        if contents:
            store = keystore.KeyStore.from_content(plan["name"], contents.get("active"), contents.get("backup"),
                                                   contents.get("backup_published"), policy=plan["key_policy"])
        else:
            store = keystore.KeyStore(args["key_store"] or keystore.DEFAULT_STORE_PATH)
        with store:
            if create:
                keyset = store.ensure(plan["name"], plan["key_type"], plan["key_policy"], explicit_key_type=False,
                                      dry_run=self._task.check_mode)
                plan["_keyset"] = keyset
            else:
                keyset = store.describe(plan["name"])
        if keyset is None:
            return
        made = [change[len("created_"):] for change in keyset.changes if change in ("created_active", "created_backup")]
        if contents and made:
            # Content mode (AWX without a persistent volume): nothing made here would survive the job.
            raise InputError("certificate %s: certificate_key_contents[%r] has no %s key; make it with "
                             "certfleet.tls.key_store (content mode), store it in your vault or credential as "
                             "certificate_key_contents[%r].%s, then run again"
                             % (plan["name"], plan["name"], " and no ".join(made), plan["name"], made[0]))
        pins = {"active": keyset.active_pin, "backup": keyset.backup_pin}
        plan.update(pins=pins, tlsa=tls_pins.tlsa_from_pins(pins, plan["domains"]),
                    key_store_path=None if contents else keyset.path, key_store_warnings=keyset.warnings)

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
    def _preflight(args, plan, probe_content, ordered=False):
        path = ".well-known/acme-challenge/" + plan["probe_token"]
        address = plan["address"]
        for domain in plan["domains"]:
            status, body = probe(address, args["preflight_port"], domain, path, args["preflight_timeout"])
            if status != 200 or body.strip() != probe_content:
                url = "http://%s/%s" % (domain, path)
                return dict(preflight_url=url, preflight_status=status, preflight_body=body[:300],
                            msg="certificate %s: preflight failed before %s: GET %s (via %s:%s) "
                                "answered %s with body %r; the CA's HTTP-01 check would fail the same way. Check that "
                                "/.well-known/acme-challenge/ is served from %s (rewrite rules, .htaccess, "
                                "redirects)" % (plan["name"], "answering the CA (the order placed ahead is abandoned, "
                                                "no challenge answered)" if ordered else "contacting the CA", url,
                                                address, args["preflight_port"], status, body[:120], plan["webroot"]))
        return None
