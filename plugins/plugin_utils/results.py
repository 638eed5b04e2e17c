# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The certificate role's public results, and which orders may be finalized; plain Python for the filters."""

from __future__ import annotations

import datetime
import os

from ansible_collections.certfleet.tls.plugins.module_utils.certificate_specs import AHEAD_KEY_TYPES
from ansible_collections.certfleet.tls.plugins.plugin_utils.requests import RequestError, host_requests
from ansible_collections.certfleet.tls.plugins.plugin_utils.staples import attach_staples


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
        # pin-sha256 of the key that is live now: the TLSA publishing step keeps it until a new key is live
        "spki_sha256": (facts or {}).get("spki_sha256"),
        "verified": None,
        "failed": bool(failure),
        "msg": failure or None,
        "managed": True,
    }
    for key in ("pins", "tlsa", "key_policy"):
        if plan.get(key) is not None:
            entry[key] = plan[key]
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


def orders_to_finalize(orders, hostvars, hosts, active_hosts, dns_placed=True):
    """Split the first ACME step's orders: answer only those whose challenge files reached every backend.

    ``hosts``: every host of the play (ansible_play_hosts_all), whose decide results name their certificate.
    ``active_hosts``: the hosts still in the play (ansible_play_hosts); a host that dropped out is not among them.
    A backend counts as served when its challenge push ran and did not fail, or when its decide step wrote the
    challenge files of this very order (placed ahead: the plan's ``ahead_order_url``).
    Returns dict(finalize=[...], abandon=[...]): answering a challenge that a backend never got would be a
    failed validation charged to the account (Let's Encrypt allows 5 per account, name and hour).
    """
    backends = {}
    for host in hosts:
        for plan in due_plans(hostvars[host].get("__certificate_plan")):
            backends.setdefault(plan.get("name"), []).append(host)
    pushed = set()
    written_ahead = {}  # (host, name): the order placed ahead whose challenge files the host's decide step wrote
    for host in active_hosts:
        push = hostvars[host].get("__certificate_push") or {}
        if push and not push.get("failed") and not push.get("unreachable") and not push.get("skipped"):
            pushed.add(host)
        for plan in due_plans(hostvars[host].get("__certificate_plan")):
            if plan.get("ahead_order_url"):
                written_ahead[(host, plan.get("name"))] = plan["ahead_order_url"]
    split = {"finalize": [], "abandon": []}
    for order in orders or []:
        if order.get("failed"):
            continue
        if "challenges" in order and not order["challenges"]:
            # Every authorization already valid (the CA reused them): nothing to push, nothing to answer.
            split["finalize"].append(order)
            continue
        if order.get("challenge_type") == "dns-01":
            # The TXT records were placed from the control node (one update per zone, propagation checked).
            split["finalize" if dns_placed else "abandon"].append(order)
            continue
        names_hosts = backends.get(order.get("name"), [])
        complete = bool(names_hosts) and all(
            host in pushed or (bool(order.get("order_url"))
                               and written_ahead.get((host, order.get("name"))) == order["order_url"])
            for host in names_hosts)
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
            if entry.get("code") == "deferred":
                state = "DEFERRED (%s)" % entry.get("reason")
            elif entry.get("managed") is False:
                state = "UNMANAGED %s (%s)" % (entry.get("dir"), entry.get("reason"))
            elif entry.get("failed"):
                state = "FAILED: %s" % entry.get("msg")
            elif entry.get("changed"):
                tls = {True: "verified", None: "not checked"}.get(entry.get("verified"),
                                                                  "NOT VERIFIED: %s" % entry.get("verify_error"))
                state = "renewed (%s), tls=%s" % (entry.get("code"), tls)
            else:
                state = "not due (%s)" % entry.get("reason")
            lines.append("%s %s serial=%s not_after=%s %s"
                         % (host, entry.get("name"), entry.get("serial"), entry.get("not_after"), state))
    return lines


def due_plans(host_plan):
    """The certificates of one host's decide result that are due and did not fail their preflight."""
    return [plan for plan in (host_plan or {}).get("certificates") or [] if plan.get("due") and not plan.get("failed")]


def host_orders(orders, host_plan):
    """This host's entries of an acme_order step (by certificate name), failed ones included."""
    names = [plan["name"] for plan in due_plans(host_plan)]
    return [order for order in orders or [] if order.get("name") in names]


def push_items(orders, host_plan):
    """What the challenge push writes on this host: every challenge (with its certificate's webroot) and one order
    record per certificate, beside its staged key."""
    plans = dict((plan["name"], plan) for plan in due_plans(host_plan))
    challenges, records = [], []
    for order in host_orders(orders, host_plan):
        if order.get("failed") or not order.get("challenges") or order.get("challenge_type") == "dns-01":
            continue  # dns-01 records go to DNS from the control node, never to the host
        plan = plans[order["name"]]
        if order.get("order_url") and plan.get("ahead_order_url") == order["order_url"]:
            continue  # placed ahead: the decide step wrote its challenge files and its record
        challenges += [dict(challenge, webroot=plan["webroot"]) for challenge in order["challenges"]]
        records.append({"path": plan["certificate_dir"] + "/next/order.json", "order_url": order.get("order_url")})
    return {"challenges": challenges, "order_records": records}


def cleanup_tokens(orders, plan):
    """Challenge and probe files of one certificate, to remove after deploy or after a failure."""
    tokens = [c["token"] for order in orders or [] if order.get("name") == plan.get("name")
              for c in order.get("challenges") or []]
    return tokens + ([plan["probe_token"]] if plan.get("probe_token") else [])


def _validity(facts):
    """[not_before, not_after] of issued certificate facts, in epoch seconds (the deploy writes it as a hint for the
    next runs' stage-ahead), or None without them."""
    try:
        return [int(datetime.datetime.strptime(facts[key], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()) for key in ("not_before", "not_after")]
    except (KeyError, TypeError, ValueError):
        return None


def deploy_items(issued, orders, host_plan):
    """The certificate_deploy batch of this host: every due certificate the CA issued, with its validity."""
    items = []
    for plan in due_plans(host_plan):
        entry = next((order for order in issued or [] if order.get("name") == plan["name"] and order.get("cert")),
                     None)
        if entry is None:
            continue
        item = {"certificate_dir": plan["certificate_dir"], "cert": entry["cert"], "chain": entry.get("chain", ""),
                "webroot": plan.get("webroot"), "challenge_tokens": cleanup_tokens(orders, plan),
                "verify_server_name": (plan.get("verify_target") or {}).get("server_name") or plan["domains"][0]}
        validity = _validity(entry.get("facts") or {})
        if validity is not None:
            item["validity"] = validity
        items.append(item)
    return items


def cleanup_items(orders, host_plan, only_names=None):
    """Every challenge and probe file this host may hold for the run, for acme_challenge_file (absent); with
    ``only_names``, those of these certificates only."""
    items = []
    for plan in (host_plan or {}).get("certificates") or []:
        if only_names is not None and plan.get("name") not in only_names:
            continue
        if plan.get("webroot"):
            items += [{"token": token, "webroot": plan["webroot"]} for token in cleanup_tokens(orders, plan)]
    return items


def certificate_outcomes(host_plan, orders=None, issued=None, deployed=None, deferred=None, excluded=None):
    """What this run's steps say about each certificate of one host, every lookup done once (by name in the orders
    and what the CA issued, by dir in the deploy result). One dict per certificate of the decide result:

    ``plan``, ``order``, ``issue``, ``entry`` (its deploy entry); ``decide_failed`` (the decide step or its preflight
    failed it: ``plan['msg']`` says why); ``deferred`` (the per-run order cap left it for a later run); ``excluded``
    (the message of CAA or the dns-01 preflight, or of a split backend group, or None); ``not_issued`` (why no
    certificate came back from the CA, or None); ``deploy_failed``. host_failures and host_results both read these.
    """
    deferred = deferred or []
    excluded = excluded or {}
    deployed_by_dir = dict((entry.get("certificate_dir"), entry) for entry in (deployed or {}).get("certificates") or [])
    outcomes = []
    for plan in (host_plan or {}).get("certificates") or []:
        name = plan.get("name")
        order = next((o for o in orders or [] if o.get("name") == name), {})
        issue = next((o for o in issued or [] if o.get("name") == name), {})
        entry = deployed_by_dir.get(plan.get("certificate_dir"), {})
        not_issued = None
        if order.get("failed") or issue.get("failed") or not issue.get("cert"):
            not_issued = order.get("msg") or issue.get("msg") or ("no certificate issued (the order was abandoned: a "
                                                                  "backend did not get its challenge files)")
        outcomes.append({"plan": plan, "order": order, "issue": issue, "entry": entry,
                         "decide_failed": bool(plan.get("failed")), "deferred": name in deferred,
                         "excluded": excluded[name] if name in excluded else None, "not_issued": not_issued,
                         "deploy_failed": bool(entry.get("failed"))})
    return outcomes


def host_failures(host_plan, orders, issued, deployed, deferred=None, excluded=None):
    """Messages for this host's certificates that did not go live, naming each certificate (a certificate deferred
    by the per-run order cap is not a failure: it is reported in certificate_results)."""
    messages = []
    for outcome in certificate_outcomes(host_plan, orders, issued, deployed, deferred, excluded):
        plan = outcome["plan"]
        if outcome["decide_failed"]:
            messages.append(plan.get("msg"))
        elif not plan.get("due") or outcome["deferred"]:
            continue
        elif outcome["excluded"] is not None:
            messages.append(outcome["excluded"])
        elif outcome["not_issued"]:
            messages.append("certificate %s: %s" % (plan["name"], outcome["not_issued"]))
        elif outcome["deploy_failed"]:
            messages.append("certificate %s: %s" % (plan["name"], outcome["entry"].get("msg")))
    return messages


def host_results(host_plan, issued=None, deployed=None, verified=None, failure=None, request=None, deferred=None,
                 excluded=None):
    """certificate_results entries of one host: one per certificate, what it holds and serves now."""
    outcomes = certificate_outcomes(host_plan, None, issued, deployed, deferred, excluded)
    if not outcomes:
        return [certificate_result(dict(request or {}), failure=failure or (host_plan or {}).get("msg"))]
    entries = []
    for outcome in outcomes:
        plan, entry = outcome["plan"], outcome["entry"]
        own_failure = plan.get("msg") if outcome["decide_failed"] else entry.get("msg") if outcome["deploy_failed"] \
            else None
        if own_failure is None and plan.get("due") and outcome["excluded"] is not None:
            own_failure = outcome["excluded"]
        # the host's failure covers the due certificates this run attempted; a deferred one was never ordered
        if own_failure is None and failure and plan.get("due") and not entry.get("changed") and not outcome["deferred"]:
            own_failure = failure
        result = certificate_result(plan, issued=outcome["issue"], deployed=entry, verified=verified,
                                    failure=own_failure)
        if outcome["deferred"] and plan.get("due") and not outcome["decide_failed"]:
            result.update(code="deferred", reason="due (%s) but deferred: certificate_max_orders_per_run was reached; "
                                                  "it is ordered by a later run" % plan.get("reason"))
        entries.append(result)
    for path in (host_plan or {}).get("unmanaged") or []:
        entries.append({"name": path.rstrip("/").rsplit("/", 1)[-1], "dir": path, "managed": False, "due": False,
                        "code": "unmanaged", "changed": False, "verified": None, "failed": False, "msg": None,
                        "reason": "no longer requested: its files are left in place (remove them when no site "
                                  "uses them)"})
    return entries


# The fleet steps below compute, once per play (a run_once set_fact), what each host's own task then reads by its
# name. ansible-core 2.19 compiles every template each time it is rendered, in every host's worker: the same chain of
# role variables, rendered in each host's push, deploy, results and failure tasks, cost each host 10 to 25 template
# compilations per task (about 0.1 CPU-s), more than the module run itself (docs/benchmarks.md).


def _plan_of(hostvars, host):
    return hostvars[host].get("__certificate_plan") or {}


def fleet_push(hosts, hostvars, orders, deferred=None, abandoned=None):
    """{host: its acme_challenge_file input} for the hosts of ``hosts`` with something to push or remove.

    Each entry: ``challenges`` and ``order_records`` (push_items), and ``remove_challenges``: the preflight probes of
    its certificates that the per-run order cap deferred (they are not ordered in this run), with the challenge files
    that the decide step wrote for their ``abandoned`` orders placed ahead. Hosts with nothing to write or remove are
    left out: their push task is skipped.
    """
    deferred = deferred or []
    fleet = {}
    for host in hosts:
        plan = _plan_of(hostvars, host)
        push = push_items(orders, plan)
        mine = [entry.get("name") for entry in plan.get("certificates") or [] if entry.get("name") in deferred]
        if push["challenges"] or mine:
            fleet[host] = dict(push, remove_challenges=cleanup_items(list(orders or []) + list(abandoned or []), plan,
                                                                     only_names=mine) if mine else [])
    return fleet


def fleet_deploy(hosts, hostvars, issued, orders, staples=None):
    """{host: its certificate_deploy batch} for the hosts of ``hosts`` with a certificate the CA issued: deploy_items,
    each with its certificate's verified good staple when one was fetched (attach_staples)."""
    fleet = {}
    for host in hosts:
        items = deploy_items(issued, orders, _plan_of(hostvars, host))
        if items:
            fleet[host] = attach_staples(items, staples)
    return fleet


def _request_summary(host_vars):
    """What the request says, for a host whose decide result lists no certificate (as the role's
    __certificate_request_summary)."""
    domains = host_vars.get("certificate_domains") or []
    return {"name": host_vars.get("certificate_name") or ",".join(domains) or "certificate_requests",
            "certificate_dir": host_vars.get("certificate_dir") or None, "domains": domains}


def fleet_outcomes(hosts, hostvars, orders=None, issued=None, verified=None, deferred=None, excluded=None,
                   decision=None):
    """{host: {"results": its new certificate_results, "failures": messages}} for every host of ``hosts``.

    ``results``: the host's earlier certificate_results merged with host_results of this run (what it holds and
    serves now). ``failures``: host_failures, only for a host with a due or failed certificate (a host with nothing
    due has none). The decide result is the host's own, or, decided over TLS without SSH, tls_decide's entry
    (``decision``: its result).
    """
    decided = (decision or {}).get("hosts") or {}
    fleet = {}
    for host in hosts:
        host_vars = hostvars[host]
        plan = host_vars.get("__certificate_plan") or {}
        effective = plan if "certificates" in plan else decided.get(host) or {}
        deployed = host_vars.get("__certificate_deployed") or {}
        pending = any(entry.get("due") or entry.get("failed") for entry in plan.get("certificates") or [])
        request = None if effective.get("certificates") else _request_summary(host_vars)
        new = host_results(effective, issued=issued, deployed=deployed, verified=verified, request=request,
                           deferred=deferred, excluded=excluded)
        fleet[host] = {
            "results": merge_certificate_results(host_vars.get("certificate_results") or [], new),
            "failures": host_failures(plan, orders, issued, deployed, deferred, excluded) if pending else [],
        }
    return fleet


def backend_counts(hosts, hostvars):
    """{certificate name: number of the run's hosts that request it}, from every host's normalized requests.

    Hosts that request the same name serve the same certificate (multi-backend): one key, one order. Names come
    from normalized domains, so WWW.Example.org and www.example.org are one certificate. A name requested with
    different domains on two hosts cannot be one certificate: that is an error naming both hosts.
    """
    counts, domains_of = {}, {}
    for host in hosts:
        try:
            requests = host_requests(hostvars, host)
        except RequestError:
            continue  # that host's own decide step reports its error by name
        for request in requests:
            name = request["name"]
            wanted = sorted(request["domains"])
            if name in domains_of and domains_of[name][1] != wanted:
                raise ValueError("certificate name %r is requested for %s on %s but for %s on %s: one name is one "
                                 "certificate" % (name, domains_of[name][1], domains_of[name][0], wanted, host))
            domains_of.setdefault(name, (host, wanted))
            counts[name] = counts.get(name, 0) + 1
    return counts


def deployed_targets(hosts, hostvars):
    """Verification targets of every certificate that went live in this run (deploy entry changed, not failed)."""
    targets = []
    for host in hosts:
        host_vars = hostvars[host]
        deployed = host_vars.get("__certificate_deployed") or {}
        live_dirs = [entry.get("certificate_dir") for entry in deployed.get("certificates") or []
                     if entry.get("changed") and not entry.get("failed") and entry.get("release")]
        for plan in (host_vars.get("__certificate_plan") or {}).get("certificates") or []:
            if plan.get("certificate_dir") in live_dirs:
                targets.append(plan["verify_target"])
    return targets


def incomplete_backends(hosts, hostvars, groups, play_hosts_all):
    """{certificate name: message} for certificates whose backend group is not wholly in this run.

    A certificate served by several hosts names its group (``backend_group`` in its request, or
    ``certificate_backend_group`` for the shorthand), and may list its hosts (``backend_hosts``, or
    ``certificate_backend_hosts``). ``--limit`` cuts anywhere, and AWX slices a job by dealing hosts out by name: when
    the run holds only some of the backends, the CA could validate against one that never got the challenge, so
    those certificates fail before anything is ordered.

    The backends are the group's hosts in this run's inventory plus the listed ones. The list is what survives an AWX
    slice: each slice gets an inventory cut down to its own hosts, whose groups hold only the slice's members, while
    group vars are kept whole.
    """
    in_run = set(play_hosts_all)
    missing = {}
    for host in hosts:
        host_vars = hostvars[host]
        try:
            requests = host_requests(hostvars, host)
        except RequestError:
            continue
        for request in requests:
            group = request.get("backend_group") or host_vars.get("certificate_backend_group")
            listed = request.get("backend_hosts") or host_vars.get("certificate_backend_hosts") or []
            if isinstance(listed, (str, bytes)) or not all(isinstance(member, str) for member in listed):
                raise ValueError("host %s, certificate %s: backend_hosts (certificate_backend_hosts) must be a list of "
                                 "inventory host names, got %r" % (host, request["name"], listed))
            if not group and not listed:
                continue
            members = list(groups.get(group) or []) if group else []
            members += [member for member in listed if member not in members]
            if not members:
                missing[request["name"]] = ("certificate %s names backend group %r, which the inventory does not have"
                                            % (request["name"], group))
                continue
            absent = [member for member in members if member not in in_run]
            if absent:
                label = "backend group %r" % group if group else "backend hosts"
                missing[request["name"]] = (
                    "certificate %s is served by %s (%s) but this run holds only %s; missing: %s. "
                    "The CA could validate against a backend that never got the challenge, so nothing was ordered. "
                    "Run the whole group in one job slice (a job template that is not sliced, or without --limit), or use "
                    "dns-01"
                    % (request["name"], label, ", ".join(members), ", ".join(m for m in members if m in in_run),
                       ", ".join(absent)))
    return missing


def order_ahead_plans(hosts, hostvars, forecast, backends=None, key_type="ec256", key_policy="rotate_each_issue",
                      max_orders=0):
    """The certificates whose orders the role places before the decide step (certificate_order_ahead).

    ``forecast``: tls_decide's result (what every host serves). A certificate is ordered ahead when it is due over TLS
    and its decide step can write the order's challenge files in the same exec as the key it stages ahead: HTTP-01
    with a webroot, a key of this host alone made in every run (policy rotate_each_issue, an EC type; the same rule as
    certificate_prepare's stage-ahead), one backend in the play, not part of an incomplete backend group. Capped like
    the run's orders (same stable order). Each item: name, domains, challenge_type, profile, host. The decide step
    still decides: an order it does not confirm is abandoned, a due certificate not ordered here is ordered after it.
    """
    decided = (forecast or {}).get("hosts") or {}
    counts = (backends or {}).get("counts") or {}
    incomplete = (backends or {}).get("incomplete") or {}
    plans = []
    for host in hosts:
        due = set(entry.get("name") for entry in (decided.get(host) or {}).get("certificates") or [] if entry.get("due"))
        if not due:
            continue
        try:
            requests = host_requests(hostvars, host)
        except RequestError:
            continue  # its decide step fails it by name
        host_vars = hostvars[host]
        for request in requests:
            if request["name"] not in due or request["challenge"] != "http-01" or not request.get("webroot"):
                continue
            if not os.path.isabs(request["dir"]) or not os.path.isabs(request["webroot"]):
                continue  # an input the decide step fails by name: never a reason to contact the CA
            if (request.get("key_type") or host_vars.get("certificate_key_type") or key_type) not in AHEAD_KEY_TYPES:
                continue
            if (request.get("key_policy") or host_vars.get("certificate_key_policy") or key_policy) != "rotate_each_issue":
                continue
            if int(counts.get(request["name"], 1)) > 1 or request["name"] in incomplete:
                continue
            plans.append({"name": request["name"], "domains": list(request["domains"]), "challenge_type": "http-01",
                          "profile": request.get("profile"), "host": host})
    return cap_orders(plans, max_orders)[0]


def _placed_ahead(ahead):
    return dict((order.get("name"), order) for order in ahead or [] if order.get("order_url") and not order.get("failed"))


def fleet_ahead(plans, placed):
    """{host: the orders placed ahead for its certificates} (certificate_prepare's ``ahead_orders``), from
    order_ahead_plans and the acme_order result that placed them; failed orders are left out (ordered after the
    decide step like any other)."""
    orders = _placed_ahead((placed or {}).get("orders"))
    fleet = {}
    for plan in plans or []:
        if plan.get("name") in orders:
            fleet.setdefault(plan["host"], []).append(orders[plan["name"]])
    return fleet


def _uses_ahead(plan, placed):
    """A due certificate takes its order placed ahead, unless its host recorded the order of a run that died: that
    one is resumed (its challenge files are on the host already, and the push rewrites the same tokens)."""
    return plan.get("name") in placed and not plan.get("resume_order_url")


def run_orders(due, ahead=None, late=None):
    """The run's orders, one per due certificate: its order placed ahead (with the CSR of the host's plan: the order
    was placed before the key existed), else the one placed after the decide step (``late``, failures included)."""
    placed = _placed_ahead(ahead)
    orders = [dict(placed[plan["name"]], csr=plan.get("csr") or "", ahead=True) for plan in due or []
              if _uses_ahead(plan, placed)]
    used = set(order["name"] for order in orders)
    return orders + [order for order in late or [] if order.get("name") not in used]


def unused_ahead_orders(ahead, candidates):
    """Orders placed ahead that the run does not use: their certificate is not among the candidates (found not due, a
    failed preflight or input, a host that dropped out, deferred by the cap), or its host recorded an order of a
    run that died, which is resumed instead. Abandoned, never answered."""
    placed = _placed_ahead(ahead)
    used = set(plan.get("name") for plan in candidates or [] if _uses_ahead(plan, placed))
    return [order for name, order in placed.items() if name not in used]


def cap_orders(plans, max_orders):
    """(ordered, deferred): at most ``max_orders`` certificates, in a stable order (by name); 0 or None: no cap."""
    ordered = sorted(plans, key=lambda plan: plan.get("name") or "")
    if not max_orders or max_orders <= 0:
        return ordered, []
    return ordered[:max_orders], ordered[max_orders:]


def tls_decide_targets(hosts, hostvars, port=443):
    """tls_decide targets from every host's requests and address; a host whose requests cannot be read is marked
    with ``error`` (it must be decided over SSH, where its decide step reports the error by name)."""
    targets = []
    for host in hosts:
        host_vars = hostvars[host]
        target = {"host": host, "port": int(host_vars.get("certificate_verify_port") or port),
                  "address": host_vars.get("certificate_address") or host_vars.get("ansible_host") or host}
        try:
            target["requests"] = [{"name": r["name"], "domains": r["domains"], "dir": r["dir"]}
                                  for r in host_requests(hostvars, host)]
        except RequestError as error:
            target.update(requests=[], error=str(error))
        if not target["requests"] and not target.get("error"):
            target["error"] = "no certificate requested"
        targets.append(target)
    return targets


def stapled_names(hosts, hostvars):
    """Names of the certificates whose site staples (a request item with a true ``ocsp_stapling``) on any of
    ``hosts``, in order, each once. A host whose requests cannot be read is left out: its decide step failed it by
    name before anything was issued."""
    names = []
    for host in hosts:
        try:
            requests = host_requests(hostvars, host)
        except RequestError:
            continue
        for request in requests:
            if request.get("ocsp_stapling") and request["name"] not in names:
                names.append(request["name"])
    return names


def preflight_exclusions(plans, caa=None, dns_probe=None):
    """{certificate name: message} for due certificates that must not be ordered: CAA forbids the CA for one of
    their names (RFC 8659), or the dns-01 preflight (a TSIG update and an answer for the name) failed."""
    excluded = {}
    refused = {}

    def collect(result):
        # caa_check's own result (entries per domain), or a loop of them (one per challenge type: RFC 8657 lets a
        # CAA record allow a CA for some validation methods only).
        for entry in (result or {}).get("results") or []:
            if "domain" in entry:
                if entry.get("allowed") is False:
                    refused[(entry.get("domain"), result.get("challenge_type"))] = entry.get("reason") or \
                        "CAA forbids this CA"
            else:
                collect(dict(entry, challenge_type=(entry.get("item") or {}).get("challenge")
                             if isinstance(entry.get("item"), dict) else entry.get("item")))
    collect(caa)
    dns_failed = bool(dns_probe) and bool(dns_probe.get("failed"))
    for plan in plans or []:
        bad = [reason for (domain, ctype), reason in refused.items()
               if domain in (plan.get("domains") or []) and ctype in (None, plan.get("challenge"))]
        if bad:
            excluded[plan["name"]] = "certificate %s: CAA check before any order: %s" % (plan["name"], "; ".join(bad))
        elif dns_failed and plan.get("challenge") == "dns-01":
            excluded[plan["name"]] = "certificate %s: dns-01 preflight before any order: %s" % (
                plan["name"], dns_probe.get("msg") or "the zone did not accept or answer the probe record")
    return excluded


def dns01_probe_records(plans):
    """The _acme-challenge names of the due dns-01 certificates, for dns_record state=probe."""
    records = []
    for plan in plans or []:
        if plan.get("challenge") != "dns-01":
            continue
        for domain in plan.get("domains") or []:
            record = "_acme-challenge." + (domain[2:] if domain.startswith("*.") else domain)
            if {"record": record} not in records:
                records.append({"record": record})
    return records


def dns01_records(orders):
    """Every TXT record the first step asks for (dns-01 orders that did not fail), merged per name."""
    merged = {}
    for order in orders or []:
        if order.get("failed") or order.get("challenge_type") != "dns-01":
            continue
        for record in order.get("dns_records") or []:
            entry = merged.setdefault(record["record"], {"record": record["record"], "type": "TXT", "values": []})
            entry["values"] += [v for v in record.get("values") or [] if v not in entry["values"]]
    return list(merged.values())
