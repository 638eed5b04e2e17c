# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The renewal decision and the key choice, as data: pure functions over what a host holds.

No I/O and no Ansible here. The action plugin reads the host, fetches ARI when asked, and calls
``decide()`` then ``choose_key()``; the unit tests call them with certificates made on the spot.

Rules (the order matters, the first match wins):
1. a deploy that never confirmed its reload (a run killed mid-deploy) is due: we cannot tell what the
   server has loaded, so we issue and deploy a fresh pair and confirm it over TLS;
2. nothing deployed, a self-signed placeholder, or names that differ from the request: due;
3. the lifetime rule (``renew_before_days`` when set, else ``renew_at_fraction`` of the lifetime) is a
   floor: once it says due, nothing can postpone it;
4. ARI (RFC 9773) may only bring renewal forward: a window that has come makes it due, a window in the
   future changes nothing. A buggy or hostile CA can therefore never keep a fleet unrenewed.
5. ``force`` makes anything due.
"""

from __future__ import annotations

import collections
import datetime

from ..errors import InputError
from .._tls import x509info
from .renewal import ari_decision

UTC = datetime.timezone.utc

# Decision codes: stable strings that code and reports may compare (never match words in a reason).
MISSING = "missing"
INTERRUPTED_DEPLOY = "interrupted_deploy"
NAMES_CHANGED = "names_changed"
SELF_SIGNED = "self_signed"
EXPIRED = "expired"
LIFETIME_DAYS = "lifetime_days"
LIFETIME_FRACTION = "lifetime_fraction"
ARI_WINDOW = "ari_window"
FORCED = "forced"
KEY_CHANGED = "key_changed"  # the deployed key is not the key store's active key (a rotation, a new key policy)
VALID = "valid"
DUE_CODES = (MISSING, INTERRUPTED_DEPLOY, NAMES_CHANGED, SELF_SIGNED, EXPIRED, LIFETIME_DAYS, LIFETIME_FRACTION,
             ARI_WINDOW, FORCED, KEY_CHANGED)

Decision = collections.namedtuple("Decision", "due code reason remaining_seconds renew_at")
Decision.__doc__ = """Whether a certificate is due (``due``), why as a code from DUE_CODES or VALID (``code``) and in
words (``reason``), seconds left on the deployed certificate (``remaining_seconds``, 0 when none) and when the
lifetime rule makes it due (``renew_at``, an aware datetime, None when nothing is deployed)."""

# Key choice codes.
KEY_NEW = "new"                  # nothing usable staged: make a key
KEY_STAGED_CURRENT = "staged_current"  # a key staged by an earlier, unfinished run for the same names: reuse it
KEY_STAGED_STALE = "staged_stale"      # the staged key is already the live key (a deploy died before cleanup)
KEY_STAGED_OTHER_NAMES = "staged_other_names"
KEY_SHARED = "shared"            # several backends serve the name: the key made once for this run

KeyChoice = collections.namedtuple("KeyChoice", "reuse_staged code reason discard_staged resume_order")
KeyChoice.__doc__ = """Whether to reuse the key staged on the host (``reuse_staged``), why (``code``, ``reason``),
whether the staged files must be discarded because they can only do harm (``discard_staged``), and whether an
order recorded beside the staged key may be resumed (``resume_order``)."""


def _days(seconds):
    return seconds / 86400.0


def lifetime_rule(cert, now, renew_at_fraction, renew_before_days):
    """(due, code, reason, renew_at): the lifetime floor alone."""
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    lifetime = (not_after - not_before).total_seconds()
    if renew_before_days is not None:
        renew_at = not_after - datetime.timedelta(days=renew_before_days)
        code, rule = LIFETIME_DAYS, "renew_before_days=%s" % renew_before_days
    else:
        renew_at = not_after - datetime.timedelta(seconds=lifetime * renew_at_fraction)
        code, rule = LIFETIME_FRACTION, "renew_at_fraction=%.2f of %.1f days" % (renew_at_fraction, _days(lifetime))
    remaining = (not_after - now).total_seconds()
    if now >= renew_at:
        return True, code, "%.1f days left, due since %s by %s" % (
            _days(remaining), renew_at.strftime("%Y-%m-%dT%H:%M:%SZ"), rule), renew_at
    return False, VALID, "valid until %s (%.1f days left; due at %s by %s)" % (
        not_after.strftime("%Y-%m-%dT%H:%M:%SZ"), _days(remaining), renew_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        rule), renew_at


def check_renewal_options(renew_at_fraction, renew_before_days):
    """Refuse nonsensical thresholds by name (every run, due or not)."""
    if not 0 < renew_at_fraction < 1:
        raise InputError("renew_at_fraction must be between 0 and 1 (exclusive), got %s" % renew_at_fraction)
    if renew_before_days is not None and renew_before_days <= 0:
        raise InputError("renew_before_days must be positive, got %s" % renew_before_days)


def decide(cert, domains, now=None, renew_at_fraction=1.0 / 3, renew_before_days=None, ari=None,
           force=False, interrupted_deploy=None):
    """Decide renewal for one certificate from what the host holds.

    ``cert``: the deployed leaf (cryptography Certificate) or None. ``domains``: the normalized names wanted.
    ``ari``: None, or dict(start, end, cert_id[, explanation_url]) from the CA's renewalInfo.
    ``interrupted_deploy``: None, or a short description of a deploy that never confirmed its reload.
    """
    now = now or datetime.datetime.now(UTC)
    decision = _decide(cert, domains, now, renew_at_fraction, renew_before_days, ari, interrupted_deploy)
    if force and not decision.due:
        return decision._replace(due=True, code=FORCED, reason="force=true (otherwise: %s)" % decision.reason)
    return decision


def _decide(cert, domains, now, renew_at_fraction, renew_before_days, ari, interrupted_deploy):
    if cert is None:
        return Decision(True, MISSING, "no certificate deployed", 0, None)
    remaining = int((cert.not_valid_after_utc - now).total_seconds())
    if interrupted_deploy:
        return Decision(True, INTERRUPTED_DEPLOY, "a deploy did not finish (%s): the served pair is unconfirmed"
                        % interrupted_deploy, remaining, None)
    deployed_names = sorted(n.lower() for n in x509info.certificate_facts(cert)["domains"])
    if deployed_names != sorted(domains):
        reason = "deployed certificate names %s, wanted %s" % (deployed_names, sorted(domains))
        return Decision(True, NAMES_CHANGED, reason, remaining, None)
    if x509info.is_self_signed(cert):
        return Decision(True, SELF_SIGNED, "deployed certificate is self-signed (a placeholder, not from a CA)",
                        remaining, None)
    if remaining <= 0:
        return Decision(True, EXPIRED, "deployed certificate expired at %s"
                        % cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"), remaining, None)
    due, code, reason, renew_at = lifetime_rule(cert, now, renew_at_fraction, renew_before_days)
    if due:
        return Decision(True, code, reason, remaining, renew_at)
    if ari:
        ari_due, ari_reason = ari_decision(ari, ari["cert_id"], now=now)
        if ari_due:
            return Decision(True, ARI_WINDOW, "%s (before the lifetime rule: %s)" % (ari_reason, reason),
                            remaining, renew_at)
        return Decision(False, VALID, "%s; %s" % (reason, ari_reason), remaining, renew_at)
    return Decision(False, VALID, reason, remaining, renew_at)


def key_changed(decision, deployed_pin, active_pin):
    """A certificate that is otherwise valid is due when the key store's active key is not the deployed one: after a
    rotation, or when a fleet moves to the reuse or pinned policy. ``active_pin`` None: the store has no key yet."""
    if decision.due or deployed_pin is None or deployed_pin == active_pin:
        return decision
    if active_pin is None:
        reason = "the key store holds no key for it yet (policy reuse or pinned): issuing with the store's key"
    else:
        reason = "the deployed key (pin %s) is not the key store's active key (pin %s)" % (deployed_pin, active_pin)
    return decision._replace(due=True, code=KEY_CHANGED, reason=reason)


def choose_key(domains, staged_domains=None, staged_spki=None, live_spki=None, shared_spki=None):
    """Which key to order with: the one staged on the host, or a new one (or the run's shared one).

    ``staged_domains``/``staged_spki``: names and SPKI pin of the CSR staged in next/ (None when nothing is staged).
    ``live_spki``: SPKI pin of the deployed certificate. ``shared_spki``: pin of the key made once for this run
    when several backends serve the name (None for a single host).
    """
    if staged_spki is not None and staged_spki == live_spki:
        # A deploy that died after the switch left the live key staged. Reusing it would resume the old,
        # valid order, whose certificate is the live one: every run would "deploy" it again and never renew.
        return KeyChoice(False, KEY_STAGED_STALE, "the staged key is already live (an earlier deploy did not "
                         "clean up): discarding it and its order record", True, False)
    if shared_spki is not None:
        same = staged_spki == shared_spki
        return KeyChoice(same, KEY_SHARED, "several backends serve this name: the run's shared key (%s)"
                         % ("already staged" if same else "staged now"), False, same)
    if staged_spki is None:
        return KeyChoice(False, KEY_NEW, "no key staged: a new key", False, False)
    if sorted(staged_domains or []) != sorted(domains):
        return KeyChoice(False, KEY_STAGED_OTHER_NAMES, "the staged key was prepared for %s, not %s: a new key"
                         % (sorted(staged_domains or []), sorted(domains)), False, False)
    return KeyChoice(True, KEY_STAGED_CURRENT, "reusing the key staged by an earlier run that did not finish",
                     False, True)


def decide_over_tls(targets, fetch, workers=16, **rules):
    """Decide every certificate of every host from what it serves, without SSH (``certificate_decide_from: tls``).

    ``targets``: [{host, address, port, requests: [{name, domains, dir}]}]; ``fetch(address, port, sni)`` returns
    (certificate, error). A host needs SSH when a certificate is due, or cannot be probed: its decide step on the
    host then judges from the files. Trade-off: a pair deployed but never reloaded is judged by what is served.
    Returns {host: {ssh, reason, certificates: [...]}}.
    """
    from concurrent.futures import ThreadPoolExecutor
    jobs = [(target, request) for target in targets for request in target.get("requests") or []]

    def probe(job):
        target, request = job
        return fetch(target["address"], target.get("port", 443), request["domains"][0])

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(jobs) or 1))) as pool:
        served = list(pool.map(probe, jobs))
    hosts = {}
    for target in targets:
        hosts[target["host"]] = {"ssh": bool(target.get("error")), "reason": target.get("error") or "nothing due",
                                 "certificates": []}
    for (target, request), (cert, error) in zip(jobs, served):
        entry = hosts[target["host"]]
        plan = {"name": request["name"], "domains": request["domains"], "certificate_dir": request["dir"],
                "decided_from": "tls"}
        if cert is None:
            plan.update(due=None, code="unreachable", reason=error)
            entry.update(ssh=True, reason="certificate %s: %s" % (request["name"], error))
        else:
            decision = decide(cert, request["domains"], **rules)
            plan.update(due=decision.due, code=decision.code, reason="served over TLS: %s" % decision.reason,
                        remaining_seconds=max(decision.remaining_seconds, 0), current=x509info.certificate_facts(cert))
            if decision.due:
                entry.update(ssh=True, reason="certificate %s is due (%s)" % (request["name"], decision.reason))
        entry["certificates"].append(plan)
    return hosts
