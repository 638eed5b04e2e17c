# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The certificate role's public results, and which orders may be finalized; plain Python for the filters."""

from __future__ import annotations


def certificate_result(plan, issued=None, deployed=None, verified=None, failure=None):
    plan = plan or {}
    issued = issued or {}
    deployed = deployed or {}
    current = plan.get("current") or {}
    went_live = bool(deployed.get("changed")) and not deployed.get("failed") and bool(issued.get("facts"))
    facts = issued.get("facts") if went_live else current
    entry = {
        "name": plan.get("name"),
        "dir": plan.get("certificate_dir"),
        "domains": plan.get("domains"),
        "due": plan.get("due"),
        "code": plan.get("code"),
        "reason": plan.get("reason"),
        "changed": went_live,
        "serial": (facts or {}).get("serial"),
        "not_after": (facts or {}).get("not_after"),
        "verified": None,
        "failed": bool(failure),
        "msg": failure or None,
    }
    target = plan.get("verify_target") or {}
    for result in verified or []:
        if result.get("name") == target.get("name") and result.get("certificate", plan.get("name")) == plan.get("name"):
            entry["verified"] = bool(result.get("verified"))
            entry["verify_error"] = result.get("error")
            entry["served_serial"] = result.get("serial")
    return entry


def merge_certificate_results(existing, new):
    """Entries of ``new`` replace those of ``existing`` with the same name; the others are kept in order."""
    names = set(entry.get("name") for entry in new)
    return [entry for entry in existing or [] if entry.get("name") not in names] + list(new)


def orders_to_finalize(orders, hostvars, hosts, active_hosts):
    """Split the first ACME step's orders: answer only those whose challenge files reached every backend.

    ``hosts``: every host of the play (ansible_play_hosts_all), whose decide results name their certificate.
    ``active_hosts``: the hosts still in the play (ansible_play_hosts); a host that dropped out is not among them.
    A backend counts as served when its challenge push ran and did not fail.
    Returns dict(finalize=[...], abandon=[...]): answering a challenge that a backend never got would be a
    failed validation charged to the account (Let's Encrypt allows 5 per account, name and hour).
    """
    backends = {}
    for host in hosts:
        plan = hostvars[host].get("__certificate_plan") or {}
        if plan.get("due"):
            backends.setdefault(plan.get("name"), []).append(host)
    pushed = set()
    for host in active_hosts:
        push = hostvars[host].get("__certificate_push") or {}
        if push and not push.get("failed") and not push.get("unreachable") and not push.get("skipped"):
            pushed.add(host)
    split = {"finalize": [], "abandon": []}
    for order in orders or []:
        if order.get("failed"):
            continue
        names_hosts = backends.get(order.get("name"), [])
        complete = bool(names_hosts) and all(host in pushed for host in names_hosts)
        split["finalize" if complete else "abandon"].append(order)
    return split


def results_summary(hosts, hostvars):
    """One line per certificate of each host: what it holds or serves now, and what this run did."""
    lines = []
    for host in hosts:
        entries = hostvars[host].get("certificate_results")
        if not entries:
            lines.append("%s: no result (the host was unreachable or the role did not run)" % host)
            continue
        for entry in entries:
            if entry.get("failed"):
                state = "FAILED: %s" % entry.get("msg")
            elif entry.get("changed"):
                tls = {True: "verified", None: "not checked"}.get(entry.get("verified"),
                                                                  "NOT VERIFIED: %s" % entry.get("verify_error"))
                state = "renewed (%s), tls=%s" % (entry.get("code"), tls)
            else:
                state = "not due (%s)" % entry.get("reason")
            lines.append("%s %s serial=%s not_after=%s %s" % (host, entry.get("name"), entry.get("serial"),
                                                               entry.get("not_after"), state))
    return lines
