# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The web roles' OCSP staple decisions, on the control node, as data (plain Python, unit-tested).

1. ``plan_staples``: what each stapled site needs, from what its live release holds (``ocsp_staple_file``
   state=read): keep a fresh staple, fetch a new one, or staple nothing (no certificate yet, a self-signed
   placeholder, no OCSP responder named by the certificate). No network: a run where every staple is fresh
   contacts no responder.
2. ``staple_outcomes``: what to do with what ``ocsp_stapling`` fetched: write a good staple, remove the staple
   of a revoked or unknown certificate (never stapled), keep a still valid staple through a responder outage;
   and the messages - ``failure`` (the host fails at the end of the role, naming the site) and ``notice``.
3. ``attach_staples``: the certificate role's deploy items, each with the new certificate's good staple
   (``ocsp_response``), so that a renewal goes live with its own staple in its own release.
"""

from __future__ import annotations

import base64
import datetime

from ansible_collections.certfleet.tls.plugins.module_utils._tls import ocsp
from ansible_collections.certfleet.tls.plugins.module_utils._tls.x509info import is_self_signed, ocsp_responders
from ansible_collections.certfleet.tls.plugins.module_utils.errors import CertfleetError

# plan_staples: code -> action
FETCH_CODES = ("missing", "refresh_due", "not_valid")
OFF_CODES = ("no_certificate", "self_signed", "no_issuer", "no_responder")
ACTIONS = ("keep", "fetch", "off")


def _time(value):
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def _entry(site, code, reason, serial=None, responder=None, next_update=None, refresh_at=None, staple=False,
           staple_valid=False):
    action = "keep" if code == "fresh" else ("fetch" if code in FETCH_CODES else "off")
    return {"name": site["name"], "certificate_dir": site["dir"], "action": action, "code": code, "reason": reason,
            "serial": serial, "responder_url": responder, "next_update": next_update, "refresh_at": refresh_at,
            "has_staple": staple, "staple_valid": staple_valid}


def plan_site(site, read, now=None):
    """One site's decision (see plan_staples)."""
    now = now if now is not None else datetime.datetime.now(datetime.timezone.utc)
    name = site["name"]
    fullchain = (read or {}).get("fullchain")
    staple_b64 = (read or {}).get("response")
    has_staple = bool(staple_b64)
    if not fullchain:
        return _entry(site, "no_certificate", "site %s: %s/live holds no fullchain.pem yet: nothing to staple"
                      % (name, site["dir"]), staple=has_staple)
    try:
        certs = ocsp.load_certificates(fullchain, "site %s: %s/live/fullchain.pem" % (name, site["dir"]))
    except CertfleetError as error:
        return _entry(site, "no_certificate", "%s: stapling is off for this site" % getattr(error, "msg", error),
                      staple=has_staple)
    leaf = certs[0]
    serial = "%x" % leaf.serial_number
    what = "site %s (%s)" % (name, ocsp.describe(leaf))
    if is_self_signed(leaf):
        return _entry(site, "self_signed", "%s is self-signed (a placeholder): no responder to ask" % what,
                      serial=serial, staple=has_staple)
    responders = ocsp_responders(leaf)
    if not responders:
        return _entry(site, "no_responder", "%s names no OCSP responder (no OCSP URL in its Authority Information "
                      "Access; Let's Encrypt ended OCSP in 2025): stapling is off for this site" % what,
                      serial=serial, staple=has_staple)
    issuer = next((cert for cert in certs[1:] if _issued_by(leaf, cert)), None)
    if issuer is None:
        return _entry(site, "no_issuer", "%s: the live fullchain.pem holds no certificate that issued it, so no OCSP "
                      "request can name the issuer (RFC 6960 §4.1.1): stapling is off for this site" % what,
                      serial=serial, responder=responders[0], staple=has_staple)
    if not has_staple:
        return _entry(site, "missing", "%s: the live release has no staple" % what, serial=serial,
                      responder=responders[0])
    der = base64.b64decode(staple_b64)
    try:
        facts = ocsp.verify_response(der, leaf, issuer, now, source="the staple in %s/live/ocsp.der" % site["dir"])
    except CertfleetError as error:
        return _entry(site, "not_valid", "%s: %s" % (what, getattr(error, "msg", str(error))), serial=serial,
                      responder=responders[0], staple=True)
    if facts["status"] != "good":
        return _entry(site, "not_valid", "%s: the deployed staple says %s" % (what, facts["status"]), serial=serial,
                      responder=responders[0], staple=True, next_update=facts["next_update"])
    if ocsp.staple_needs_refresh(der, now):
        return _entry(site, "refresh_due", "%s: the staple is past half of its validity (refresh at %s)"
                      % (what, facts["refresh_at"]), serial=serial, responder=responders[0], staple=True,
                      staple_valid=True, next_update=facts["next_update"], refresh_at=facts["refresh_at"])
    return _entry(site, "fresh", "%s: the staple is fresh until %s" % (what, facts["refresh_at"]), serial=serial,
                  responder=responders[0], staple=True, staple_valid=True, next_update=facts["next_update"],
                  refresh_at=facts["refresh_at"])


def _issued_by(leaf, candidate):
    try:
        ocsp.check_issuer(leaf, candidate)
        return True
    except CertfleetError:
        return False


def plan_staples(sites, read_results, now=None):
    """One decision per stapled site: ``action`` keep / fetch / off, ``code``, ``reason`` and the facts.

    ``read_results`` are the ``staples`` of ocsp_staple_file state=read, matched by certificate_dir; sites
    without ``ocsp_stapling`` are left out.
    """
    by_dir = dict((entry.get("certificate_dir"), entry) for entry in read_results or [])
    return [plan_site(site, by_dir.get(site["dir"]), now) for site in sites or [] if site.get("ocsp_stapling")]


def _fetched_by_name(fetched):
    found = {}
    for result in fetched or []:
        item = result.get("item") or {}
        if item.get("name"):
            found[item["name"]] = result
    return found


def bad_status(plan, result):
    if result.get("status") == "revoked":
        reason = " (%s)" % result["revocation_reason"] if result.get("revocation_reason") else ""
        return ("site %s: %s is REVOKED since %s%s according to its OCSP responder %s: it is not stapled; replace the "
                "certificate (certfleet.tls.issue with certificate_force) and find out why it was revoked"
                % (plan["name"], result.get("certificate"), result.get("revocation_time"), reason,
                   result.get("responder_url")))
    return ("site %s: %s has status UNKNOWN at its OCSP responder %s (not issued by that CA, or not yet published): "
            "it is not stapled" % (plan["name"], result.get("certificate"), result.get("responder_url")))


def staple_outcomes(plans, fetched):
    """What to do per site, from ``plans`` (plan_staples) and ``fetched`` (the ocsp_stapling loop results, whose
    ``item`` is the plan): ``action`` none / write / remove, ``response`` (write), ``stapled`` (a staple is in the
    live release after the change), ``status``, ``failure`` (the host fails, naming the site) and ``notice``."""
    results = _fetched_by_name(fetched)
    outcomes = []
    for plan in plans or []:
        out = {"name": plan["name"], "certificate_dir": plan["certificate_dir"], "code": plan["code"],
               "action": "none", "response": None, "stapled": plan["staple_valid"], "status": None,
               "next_update": plan["next_update"], "failure": None, "notice": None}
        if plan["action"] == "keep":
            out["status"] = "good"
        elif plan["action"] == "off":
            out.update(notice=plan["reason"], stapled=False, action="remove" if plan["has_staple"] else "none")
        else:
            result = results.get(plan["name"])
            if result is None:
                kept = plan["staple_valid"]
                out.update(failure="site %s: no OCSP answer was fetched (%s)" % (plan["name"], plan["reason"]),
                           stapled=kept, status="good" if kept else None,
                           action="remove" if plan["has_staple"] and not kept else "none")
            elif result.get("failed") or ("status" not in result and result.get("supported", True)):
                why = result.get("msg") or "ocsp_stapling failed"
                if plan["staple_valid"]:
                    out.update(failure="site %s: %s; the deployed staple stays served until its next_update %s"
                               % (plan["name"], why, plan["next_update"]), status="good")
                else:
                    out.update(failure="site %s: %s; the site is not stapled" % (plan["name"], why), stapled=False,
                               action="remove" if plan["has_staple"] else "none")
            elif not result.get("supported", True):
                out.update(notice="site %s: %s" % (plan["name"], result.get("msg")), stapled=False,
                           action="remove" if plan["has_staple"] else "none")
            elif result["status"] == "good":
                out.update(action="write", response=result["response"], stapled=True, status="good",
                           next_update=result.get("next_update"))
            else:
                out.update(failure=bad_status(plan, result), stapled=False, status=result["status"],
                           action="remove" if plan["has_staple"] else "none")
        outcomes.append(out)
    return outcomes


def attach_staples(deploy_items, fetched):
    """The deploy items, each whose certificate got a verified good staple with ``ocsp_response``. ``fetched``:
    the ocsp_stapling loop results whose ``item`` is the issued order (``cert``, ``name``). A certificate without
    one (no responder, an error, a status other than good) is deployed without: never with another's staple."""
    good = {}
    for result in fetched or []:
        item = result.get("item") or {}
        if not result.get("failed") and result.get("supported") and result.get("status") == "good" and item.get("cert"):
            good[item["cert"].strip()] = result["response"]
    items = []
    for entry in deploy_items or []:
        response = good.get((entry.get("cert") or "").strip())
        items.append(dict(entry, ocsp_response=response) if response else dict(entry))
    return items


__all__ = ["plan_site", "plan_staples", "staple_outcomes", "attach_staples", "ACTIONS", "FETCH_CODES", "OFF_CODES"]
