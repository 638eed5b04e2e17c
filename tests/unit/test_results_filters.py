"""The role's public results and the split of orders between answering and abandoning (plain Python)."""

import multiprocessing
import os

import pytest

from ansible_collections.certfleet.tls.plugins.plugin_utils import results
from ansible_collections.certfleet.tls.plugins.module_utils.run_key_share import RunKeyShare
from ansible_collections.certfleet.tls.plugins.filter.fleet_targets import fleet_targets

PLAN = {"name": "www", "certificate_dir": "/etc/ssl/www", "domains": ["www.example.org"], "due": True,
        "code": "lifetime_fraction", "reason": "10 days left", "current": {"serial": "aa", "not_after": "old"},
        "verify_target": {"name": "web1", "certificate": "www"}}


def test_result_of_a_renewal_that_verified():
    entry = results.certificate_result(PLAN, issued={"facts": {"serial": "bb", "not_after": "new"}},
                                       deployed={"changed": True}, verified=[
                                           {"name": "web1", "certificate": "www", "verified": True, "serial": "bb"}])
    assert entry["changed"] and entry["serial"] == "bb" and entry["verified"] is True and not entry["failed"]


def test_result_of_a_failed_deploy_reports_the_pair_still_held():
    entry = results.certificate_result(PLAN, issued={"facts": {"serial": "bb"}}, deployed={"failed": True},
                                       failure="config test failed")
    assert entry["serial"] == "aa" and entry["failed"] and entry["msg"] == "config test failed"
    assert entry["verified"] is None


def test_result_of_nothing_due():
    plan = dict(PLAN, due=False, code="valid")
    entry = results.certificate_result(plan, issued={}, deployed={"skipped": True})
    assert not entry["changed"] and entry["serial"] == "aa" and entry["verified"] is None


def test_merge_replaces_by_name():
    merged = results.merge_certificate_results([{"name": "a", "v": 1}, {"name": "b"}], [{"name": "a", "v": 2}])
    assert merged == [{"name": "b"}, {"name": "a", "v": 2}]


def test_orders_of_a_host_that_dropped_out_are_abandoned():
    def plan(*names):
        return {"certificates": [{"name": name, "due": True} for name in names]}
    hostvars = {
        "web1": {"__certificate_plan": plan("shared"), "__certificate_push": {"changed": True}},
        "web2": {"__certificate_plan": plan("shared")},  # unreachable: never pushed
        "web3": {"__certificate_plan": plan("solo"), "__certificate_push": {"changed": True}},
        "web4": {"__certificate_plan": plan("broken"), "__certificate_push": {"failed": True}},
    }
    orders = [{"name": "shared"}, {"name": "solo"}, {"name": "broken"}, {"name": "refused", "failed": True}]
    split = results.orders_to_finalize(orders, hostvars, list(hostvars), ["web1", "web3", "web4"])
    assert [o["name"] for o in split["finalize"]] == ["solo"]
    assert [o["name"] for o in split["abandon"]] == ["shared", "broken"]


def test_summary_lists_hosts_without_results():
    hostvars = {"web1": {"certificate_results": [results.certificate_result(dict(PLAN, due=False, code="valid"))]},
                "web2": {}}
    lines = results.results_summary(["web1", "web2"], hostvars)
    assert "web1 www serial=aa" in lines[0] and "not due" in lines[0] and "no result" in lines[1]


def test_fleet_targets_use_the_same_name_as_the_decide_step():
    targets = fleet_targets(["web1"], {"web1": {"certificate_domains": ["WWW.Example.org", "example.org"],
                                                "ansible_host": "10.0.0.1"}}, all_domains=True)
    assert [t["certificate"] for t in targets] == ["www.example.org,example.org"] * 2
    assert [t["server_name"] for t in targets] == ["www.example.org", "example.org"]


def _get_key(directory, queue):
    queue.put(RunKeyShare(directory).get("www", lambda: ("KEY-%d" % os.getpid(), "CSR-%d" % os.getpid())))


def test_run_key_share_gives_every_worker_the_same_key(tmp_path):
    queue = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=_get_key, args=(str(tmp_path / "share"), queue)) for dummy in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    keys = set(queue.get() for dummy in workers)
    assert len(keys) == 1
    assert oct(os.stat(tmp_path / "share").st_mode & 0o777) == "0o700"


PLAN_HOST = {"certificates": [
    {"name": "a", "due": True, "certificate_dir": "/ssl/a", "webroot": "/www", "domains": ["a.example.org"],
     "probe_token": "certfleet-probe-1"},
    {"name": "b", "due": True, "certificate_dir": "/ssl/b", "webroot": "/www2", "domains": ["b.example.org"]},
    {"name": "c", "due": False, "certificate_dir": "/ssl/c", "webroot": "/www", "domains": ["c.example.org"]},
    {"name": "d", "due": True, "failed": True, "msg": "certificate d: preflight failed", "certificate_dir": "/ssl/d",
     "webroot": "/www", "domains": ["d.example.org"]}]}
FIRST = [{"name": "a", "order_url": "u/a", "challenges": [{"token": "ta", "key_authorization": "ka"}]},
         {"name": "b", "order_url": "u/b", "challenges": [{"token": "tb", "key_authorization": "kb"}]},
         {"name": "other-host", "order_url": "u/x", "challenges": [{"token": "tx", "key_authorization": "kx"}]}]


def test_push_items_cover_every_due_certificate_of_the_host_only():
    push = results.push_items(FIRST, PLAN_HOST)
    assert [(c["token"], c["webroot"]) for c in push["challenges"]] == [("ta", "/www"), ("tb", "/www2")]
    assert push["order_records"] == [{"path": "/ssl/a/next/order.json", "order_url": "u/a"},
                                     {"path": "/ssl/b/next/order.json", "order_url": "u/b"}]


def test_deploy_items_and_failures_per_certificate():
    issued = [{"name": "a", "cert": "CERT A", "chain": "CHAIN"}, {"name": "b", "failed": True, "msg": "invalid"}]
    items = results.deploy_items(issued, FIRST, PLAN_HOST)
    assert [(i["certificate_dir"], i["challenge_tokens"], i["verify_server_name"]) for i in items] == [
        ("/ssl/a", ["ta", "certfleet-probe-1"], "a.example.org")]
    assert "validity" not in items[0], "no dates, no hint"
    issued[0]["facts"] = {"not_before": "2026-01-01T00:00:00Z", "not_after": "2026-04-01T00:00:00Z"}
    assert results.deploy_items(issued, FIRST, PLAN_HOST)[0]["validity"] == [1767225600, 1775001600]
    failures = results.host_failures(PLAN_HOST, FIRST, issued, {"certificates": [{"certificate_dir": "/ssl/a"}]})
    assert failures == ["certificate b: invalid", "certificate d: preflight failed"] or \
        sorted(failures) == sorted(["certificate b: invalid", "certificate d: preflight failed"])


def test_backend_counts_group_by_normalized_names_and_refuse_one_name_for_two_lists():
    hostvars = {"h1": {"certificate_domains": ["WWW.example.org"], "certificate_dir": "/ssl"},
                "h2": {"certificate_domains": ["www.example.org"], "certificate_dir": "/ssl"},
                "h3": {"certificate_requests": [{"name": "www.example.org", "domains": ["other.example.org"],
                                                 "dir": "/x"}]}}
    assert results.backend_counts(["h1", "h2"], hostvars) == {"www.example.org": 2}
    with pytest.raises(ValueError) as error:
        results.backend_counts(["h1", "h3"], hostvars)
    assert "h1" in str(error.value) and "h3" in str(error.value)


def test_caa_and_dns_preflight_rule_out_certificates_by_name():
    plans = [{"name": "a", "domains": ["a.example.org"], "challenge": "http-01"},
             {"name": "w", "domains": ["*.example.org", "example.org"], "challenge": "dns-01"},
             {"name": "d", "domains": ["d.example.org"], "challenge": "dns-01"}]
    caa = {"results": [{"domain": "a.example.org", "allowed": False, "reason": "CAA 0 issue \"other.ca\" forbids"},
                       {"domain": "example.org", "allowed": True}]}
    excluded = results.preflight_exclusions(plans, caa, {"failed": True, "msg": "BADKEY"})
    assert sorted(excluded) == ["a", "d", "w"] and "other.ca" in excluded["a"] and "BADKEY" in excluded["w"]
    assert results.preflight_exclusions(plans, caa, {}) == {"a": excluded["a"]}
    assert results.dns01_probe_records(plans) == [{"record": "_acme-challenge.example.org"},
                                                  {"record": "_acme-challenge.d.example.org"}]


def test_dns01_records_merge_per_name_and_skip_failed_orders():
    orders = [
        {"name": "w", "challenge_type": "dns-01",
         "dns_records": [{"record": "_acme-challenge.example.org", "type": "TXT", "values": ["v1", "v2"]}]},
        {"name": "x", "challenge_type": "dns-01", "failed": True,
         "dns_records": [{"record": "_acme-challenge.x.org", "values": ["v"]}]},
        {"name": "h", "challenge_type": "http-01", "challenges": [{"token": "t"}]}]
    assert results.dns01_records(orders) == [{"record": "_acme-challenge.example.org", "type": "TXT",
                                              "values": ["v1", "v2"]}]
    split = results.orders_to_finalize(orders, {}, [], [], dns_placed=False)
    assert [o["name"] for o in split["abandon"]] == ["w", "h"]


def test_an_order_with_every_authorization_already_valid_is_finalized_not_abandoned():
    hostvars = {"web1": {"__certificate_plan": {"certificates": [{"name": "reused", "due": True}]}}}
    split = results.orders_to_finalize([{"name": "reused", "challenges": []}], hostvars, ["web1"], ["web1"])
    assert [o["name"] for o in split["finalize"]] == ["reused"] and split["abandon"] == []


def test_a_split_backend_group_is_found_from_the_inventory_group_or_the_listed_hosts():
    pair = {"certificate_domains": ["pair.example.org"], "certificate_dir": "/ssl", "certificate_backend_group": "pair"}
    hostvars = {"web1": dict(pair), "web2": dict(pair), "solo": {"certificate_domains": ["solo.example.org"],
                                                                 "certificate_dir": "/ssl"}}
    # --limit: the inventory is whole, its group names the backend that the run lacks.
    missing = results.incomplete_backends(["web1", "solo"], hostvars, {"pair": ["web1", "web2"]}, ["web1", "solo"])
    assert list(missing) == ["pair.example.org"] and "missing: web2" in missing["pair.example.org"]
    # An AWX slice: its inventory's group holds the slice's members only, so the group alone sees nothing wrong...
    assert results.incomplete_backends(["web1", "solo"], hostvars, {"pair": ["web1"]}, ["web1", "solo"]) == {}
    # ...while the listed hosts (a group var, which every slice keeps) name the backend of the other slice.
    for host in ("web1", "web2"):
        hostvars[host]["certificate_backend_hosts"] = ["web1", "web2"]
    missing = results.incomplete_backends(["web1", "solo"], hostvars, {"pair": ["web1"]}, ["web1", "solo"])
    assert "backend group 'pair' (web1, web2)" in missing["pair.example.org"]
    assert "holds only web1; missing: web2" in missing["pair.example.org"]
    assert results.incomplete_backends(["web1", "web2"], hostvars, {"pair": ["web1", "web2"]}, ["web1", "web2"]) == {}
    # A request item lists its backends without a group.
    item = {"certificate_requests": [{"domains": ["api.example.org"], "dir": "/api", "backend_hosts": ["a", "b"]}]}
    missing = results.incomplete_backends(["a"], {"a": item}, {}, ["a"])
    assert "served by backend hosts (a, b)" in missing["api.example.org"] and "missing: b" in missing["api.example.org"]


def test_listed_backend_hosts_must_be_a_list_of_names():
    hostvars = {"web1": {"certificate_domains": ["pair.example.org"], "certificate_dir": "/ssl",
                         "certificate_backend_hosts": "web1,web2"}}
    with pytest.raises(ValueError) as error:
        results.incomplete_backends(["web1"], hostvars, {}, ["web1"])
    assert "web1" in str(error.value) and "certificate_backend_hosts" in str(error.value)


def test_host_requests_read_the_shorthand_or_the_items_of_one_host():
    from ansible_collections.certfleet.tls.plugins.plugin_utils.requests import RequestError, host_requests
    hostvars = {"web1": {"certificate_domains": ["WWW.example.org"], "certificate_dir": "/ssl"},
                "web2": {"certificate_requests": [{"domains": ["a.example.org"], "dir": "/a"}],
                         "certificate_domains": ["ignored.example.org"]},
                "nodir": {"certificate_domains": ["x.example.org"]}}
    assert [(r["name"], r["dir"]) for r in host_requests(hostvars, "web1")] == [("www.example.org", "/ssl")]
    assert [r["name"] for r in host_requests(hostvars, "web2")] == ["a.example.org"]
    with pytest.raises(RequestError) as error:
        host_requests(hostvars, "nodir")
    assert "no dir" in str(error.value)
    assert host_requests(hostvars, "nodir", missing_dir="-")[0]["dir"] == "-"


def test_failures_and_results_tell_the_same_story_for_each_certificate():
    """host_failures (the host's error) and host_results (certificate_results) read one outcome per certificate."""
    def plan(name, **extra):
        return dict({"name": name, "certificate_dir": "/ssl/" + name, "domains": [name + ".example.org"], "due": True,
                     "reason": "missing", "code": "missing", "verify_target": {"name": "web1", "certificate": name}},
                    **extra)
    host_plan = {"certificates": [plan("live"), plan("bad", failed=True, msg="certificate bad: preflight failed"),
                                  plan("idle", due=False, reason="60 days left"), plan("later"), plan("caa"),
                                  plan("lost"), plan("broken")]}
    orders = [{"name": n, "challenges": []} for n in ("live", "lost", "broken")]
    issued = [{"name": "live", "cert": "C", "facts": {"serial": "01"}}, {"name": "broken", "cert": "C2"},
              {"name": "lost", "failed": True, "msg": "urn:ietf:params:acme:error:unauthorized"}]
    deployed = {"certificates": [{"certificate_dir": "/ssl/live", "changed": True, "release": "r1"},
                                 {"certificate_dir": "/ssl/broken", "failed": True, "msg": "nginx -t failed"}]}
    excluded = {"caa": "certificate caa: CAA check before any order: forbids"}
    failures = results.host_failures(host_plan, orders, issued, deployed, deferred=["later"], excluded=excluded)
    assert failures == ["certificate bad: preflight failed", excluded["caa"],
                        "certificate lost: urn:ietf:params:acme:error:unauthorized", "certificate broken: nginx -t failed"]
    entries = dict((e["name"], e) for e in results.host_results(
        host_plan, issued, deployed, failure="; ".join(failures), deferred=["later"], excluded=excluded))
    assert entries["live"]["changed"] and not entries["live"]["failed"] and entries["live"]["serial"] == "01"
    assert entries["bad"]["msg"] == "certificate bad: preflight failed"
    assert not entries["idle"]["failed"] and not entries["idle"]["changed"]
    assert entries["later"]["code"] == "deferred" and "later run" in entries["later"]["reason"]
    # another certificate's failure is not the deferred one's: it was never ordered
    assert entries["later"]["failed"] is False and entries["later"]["msg"] is None
    assert entries["caa"]["msg"] == excluded["caa"]
    assert entries["broken"]["msg"] == "nginx -t failed"
    assert entries["lost"]["failed"] and "unauthorized" in entries["lost"]["msg"]  # the host's message, naming it
    assert not entries["live"]["failed"] and not entries["idle"]["failed"]
    assert all(entries[n]["failed"] for n in ("bad", "caa", "lost", "broken"))


def test_stapled_names_are_the_plays_stapling_requests_each_once():
    site = {"domains": ["www.example.org"], "dir": "/etc/ssl/www", "ocsp_stapling": True}
    hostvars = {
        "web1": {"certificate_requests": [site, {"domains": ["api.example.org"], "dir": "/etc/ssl/api"}]},
        "web2": {"certificate_requests": [site, {"name": "blog", "domains": ["blog.example.org"], "dir": "/b",
                                                 "ocsp_stapling": True}]},
        "web3": {"certificate_domains": ["plain.example.org"], "certificate_dir": "/etc/ssl/plain"},
        "broken": {"certificate_requests": [{"domains": ["x.example.org"]}]},  # no dir: its decide step fails it
    }
    assert results.stapled_names(["web1", "web2", "web3", "broken"], hostvars) == ["www.example.org", "blog"]
    assert results.stapled_names(["web3"], hostvars) == []


# The fleet steps: computed once per play, each host's entry must be what that host's own task computed before.
FLEET_ORDERS = [
    {"name": "www", "order_url": "https://ca/o/1", "challenge_type": "http-01",
     "challenges": [{"token": "t1", "key_authorization": "t1.k"}]},
    {"name": "api", "order_url": "https://ca/o/2", "challenge_type": "http-01", "failed": True, "msg": "rate limited",
     "challenges": []},
]
FLEET_ISSUED = [{"name": "www", "cert": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", "chain": "",
                 "facts": {"serial": "bb", "not_before": "2026-12-01T00:00:00Z", "not_after": "2027-03-01T00:00:00Z"}}]


def _fleet_plan(*certificates):
    return {"certificates": [dict({"certificate_dir": "/ssl/" + c["name"], "webroot": "/var/www",
                                   "domains": [c["name"] + ".example.org"],
                                   "verify_target": {"name": "web1", "certificate": c["name"]}}, **c)
                             for c in certificates]}


def test_fleet_push_is_each_hosts_push_and_leaves_out_hosts_with_nothing_to_do():
    hostvars = {
        "web1": {"__certificate_plan": _fleet_plan({"name": "www", "due": True})},
        "web2": {"__certificate_plan": _fleet_plan({"name": "www", "due": False})},
        "web3": {"__certificate_plan": _fleet_plan({"name": "later", "due": True, "probe_token": "p1"})},
        "web4": {},  # decided over TLS: no plan of its own
    }
    fleet = results.fleet_push(["web1", "web2", "web3", "web4"], hostvars, FLEET_ORDERS, deferred=["later"])
    assert sorted(fleet) == ["web1", "web3"]
    own = results.push_items(FLEET_ORDERS, hostvars["web1"]["__certificate_plan"])
    assert fleet["web1"] == dict(own, remove_challenges=[])
    assert fleet["web1"]["challenges"][0]["webroot"] == "/var/www"
    # a deferred certificate is not ordered: only its preflight probe goes away
    assert fleet["web3"] == {"challenges": [], "order_records": [],
                             "remove_challenges": [{"token": "p1", "webroot": "/var/www"}]}


def test_fleet_deploy_gives_each_host_its_issued_certificates_with_their_staples():
    hostvars = {"web1": {"__certificate_plan": _fleet_plan({"name": "www", "due": True})},
                "web2": {"__certificate_plan": _fleet_plan({"name": "api", "due": True})}}
    staples = [{"item": FLEET_ISSUED[0], "supported": True, "status": "good", "response": "c3RhcGxl"}]
    fleet = results.fleet_deploy(["web1", "web2"], hostvars, FLEET_ISSUED, FLEET_ORDERS, staples)
    assert list(fleet) == ["web1"]  # api failed at the CA: nothing to deploy on web2
    [item] = fleet["web1"]
    assert item == dict(results.deploy_items(FLEET_ISSUED, FLEET_ORDERS, hostvars["web1"]["__certificate_plan"])[0],
                        ocsp_response="c3RhcGxl")
    assert item["challenge_tokens"] == ["t1"] and item["validity"][1] > item["validity"][0]
    assert results.fleet_deploy(["web1"], hostvars, FLEET_ISSUED, FLEET_ORDERS, [])["web1"][0].get("ocsp_response") \
        is None


def test_fleet_outcomes_are_each_hosts_results_and_failures():
    web1_plan = _fleet_plan({"name": "www", "due": True, "current": {"serial": "aa"}})
    web2_plan = _fleet_plan({"name": "api", "due": True, "current": {"serial": "cc"}})
    deployed = {"certificates": [{"certificate_dir": "/ssl/www", "changed": True, "release": "/ssl/www/releases/1"}]}
    hostvars = {
        "web1": {"__certificate_plan": web1_plan, "__certificate_deployed": deployed,
                 "certificate_results": [{"name": "old-site", "serial": "01"}, {"name": "www", "serial": "aa"}]},
        "web2": {"__certificate_plan": web2_plan, "__certificate_deployed": {"skipped": True}},
        "web3": {"__certificate_plan": {"skipped": True}},
    }
    decision = {"hosts": {"web3": _fleet_plan({"name": "static", "due": False, "code": "valid",
                                               "current": {"serial": "dd"}})}}
    verified = [{"name": "web1", "certificate": "www", "verified": True, "serial": "bb"}]
    fleet = results.fleet_outcomes(["web1", "web2", "web3"], hostvars, orders=FLEET_ORDERS, issued=FLEET_ISSUED,
                                   verified=verified, decision=decision)
    # web1: the new certificate went live and verified; its earlier entry for another site is kept
    assert [(e["name"], e["serial"]) for e in fleet["web1"]["results"]] == [("old-site", "01"), ("www", "bb")]
    assert fleet["web1"]["results"][1]["verified"] is True and fleet["web1"]["failures"] == []
    # web2: its order failed at the CA: it still holds its old pair, and fails by name
    assert fleet["web2"]["results"][0]["serial"] == "cc"
    assert fleet["web2"]["failures"] == ["certificate api: rate limited"]
    assert fleet["web2"]["failures"] == results.host_failures(web2_plan, FLEET_ORDERS, FLEET_ISSUED, {"skipped": True})
    # web3: decided over TLS, never reached over SSH: tls_decide's entry, nothing due, nothing failed
    assert [(e["name"], e["serial"], e["due"]) for e in fleet["web3"]["results"]] == [("static", "dd", False)]
    assert fleet["web3"]["failures"] == []


def test_fleet_outcomes_of_a_host_without_certificates_name_its_request():
    hostvars = {"web1": {"__certificate_plan": {"certificates": [], "msg": "certificate_requests is empty"},
                         "certificate_domains": ["www.example.org"]}}
    [entry] = results.fleet_outcomes(["web1"], hostvars)["web1"]["results"]
    assert entry["name"] == "www.example.org" and entry["msg"] == "certificate_requests is empty" and entry["failed"]


# -- certificate_order_ahead ------------------------------------------------------------------------------------
def _forecast(**due_by_host):
    return {"hosts": dict((host, {"certificates": [{"name": name, "due": True} for name in names]})
                          for host, names in due_by_host.items())}


def test_only_what_the_decide_step_can_serve_in_its_own_exec_is_ordered_ahead():
    def req(name, **extra):
        return dict({"name": name, "domains": [name], "dir": "/etc/ssl/" + name, "webroot": "/srv/www"}, **extra)
    hostvars = {
        "web1": {"certificate_requests": [req("a.test"), req("rsa.test", key_type="rsa2048"),
                                          req("dns.test", challenge="dns-01", webroot=None),
                                          req("nowebroot.test", webroot=None), req("valid.test")]},
        "web2": {"certificate_requests": [req("pinned.test")], "certificate_key_policy": "pinned"},
        "web3": {"certificate_requests": [req("shared.test")]},
        "web4": {"certificate_requests": [req("shared.test")]},
        "web5": {"certificate_requests": [req("z.test", profile="shortlived"), req("b.test")]},
        "web6": {"certificate_requests": "not a list"},
        "web7": {"certificate_requests": [req("rel.test", dir="ssl/rel"), req("relweb.test", webroot="www")]},
    }
    forecast = _forecast(web1=["a.test", "rsa.test", "dns.test", "nowebroot.test"], web2=["pinned.test"],
                         web3=["shared.test"], web4=["shared.test"], web5=["z.test", "b.test"], web6=["x"],
                         web7=["rel.test", "relweb.test"])
    backends = {"counts": {"shared.test": 2}, "incomplete": {}}
    plans = results.order_ahead_plans(list(hostvars), hostvars, forecast, backends)
    assert [(p["name"], p["host"]) for p in plans] == [("a.test", "web1"), ("b.test", "web5"), ("z.test", "web5")]
    assert plans[2] == {"name": "z.test", "domains": ["z.test"], "challenge_type": "http-01", "profile": "shortlived",
                        "host": "web5"}
    # the run's cap, in the same stable order as the orders after the decide step
    assert [p["name"] for p in results.order_ahead_plans(list(hostvars), hostvars, forecast, backends,
                                                         max_orders=2)] == ["a.test", "b.test"]
    # a play-level key policy that is not rotate_each_issue orders nothing ahead
    assert results.order_ahead_plans(list(hostvars), hostvars, forecast, backends, key_policy="reuse") == []
    assert results.order_ahead_plans(list(hostvars), hostvars, {}, backends) == []


def test_each_host_gets_its_orders_placed_ahead_and_the_run_takes_them_with_the_plans_csr():
    plans = [{"name": "a.test", "host": "web1"}, {"name": "b.test", "host": "web2"}, {"name": "c.test", "host": "web1"}]
    placed = {"orders": [{"name": "a.test", "order_url": "u/a", "csr": "", "challenges": [{"token": "t"}]},
                         {"name": "b.test", "failed": True, "msg": "refused"},
                         {"name": "c.test", "order_url": "u/c", "csr": ""}]}
    assert results.fleet_ahead(plans, placed) == {"web1": [placed["orders"][0], placed["orders"][2]]}
    due = [{"name": "a.test", "csr": "CSR-A"}, {"name": "b.test", "csr": "CSR-B"}]
    late = [{"name": "b.test", "order_url": "u/b2", "csr": "CSR-B"}]
    orders = results.run_orders(due, placed["orders"], late)
    assert [(o["name"], o["order_url"], o["csr"], o.get("ahead")) for o in orders] == [
        ("a.test", "u/a", "CSR-A", True), ("b.test", "u/b2", "CSR-B", None)]
    # c.test was ordered ahead but no decide step confirmed it: abandoned, never answered
    assert results.unused_ahead_orders(placed["orders"], due) == [placed["orders"][2]]
    # the order a killed run recorded on the host is resumed: the one placed ahead goes unused
    due[0]["resume_order_url"] = "u/recorded"
    assert results.unused_ahead_orders(placed["orders"], due) == [placed["orders"][0], placed["orders"][2]]
    assert [o["name"] for o in results.run_orders(due, placed["orders"], late)] == ["b.test"]


def test_an_order_placed_ahead_is_finalized_without_a_push_only_where_the_decide_step_wrote_it():
    def plan(name, ahead_url=None):
        entry = {"name": name, "due": True, "webroot": "/srv/www", "certificate_dir": "/etc/ssl/" + name}
        if ahead_url:
            entry["ahead_order_url"] = ahead_url
        return {"certificates": [entry]}
    hostvars = {
        "web1": {"__certificate_plan": plan("a", "u/a")},  # written by the decide step, push skipped
        "web2": {"__certificate_plan": plan("b", "u/old")},  # wrote another order's files: not this one
        "web3": {"__certificate_plan": plan("c", "u/c")},  # dropped out after the decide step
        "web4": {"__certificate_plan": plan("d")},  # not written ahead and no push: never answered
    }
    orders = [{"name": n, "order_url": "u/" + n, "challenges": [{"token": "t" + n}]} for n in "abcd"]
    split = results.orders_to_finalize(orders, hostvars, list(hostvars), ["web1", "web2", "web4"])
    assert [o["name"] for o in split["finalize"]] == ["a"]
    assert [o["name"] for o in split["abandon"]] == ["b", "c", "d"]
    # the push writes nothing for the order the decide step wrote, and writes the other
    push = results.push_items(orders, hostvars["web1"]["__certificate_plan"])
    assert push == {"challenges": [], "order_records": []}
    assert results.push_items(orders, hostvars["web2"]["__certificate_plan"])["challenges"][0]["token"] == "tb"


def test_the_files_of_a_deferred_certificate_ordered_ahead_are_removed_by_the_push():
    hostvars = {"web1": {"__certificate_plan": {"certificates": [
        {"name": "late", "due": True, "webroot": "/srv/www", "ahead_order_url": "u/late", "probe_token": "p"}]}}}
    abandoned = [{"name": "late", "order_url": "u/late", "challenges": [{"token": "tl"}]}]
    fleet = results.fleet_push(["web1"], hostvars, [], deferred=["late"], abandoned=abandoned)
    assert fleet["web1"]["challenges"] == [] and sorted(item["token"] for item in fleet["web1"]["remove_challenges"]) \
        == ["p", "tl"]
