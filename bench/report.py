"""The benchmark's report: medians over the repetitions, ratios against the peer and the floors, the
markdown tables, and the generated block of docs/benchmarks.md.

Works on results.json alone (runner.Bench.save() writes it), so `bench/run.py --render RESULTS_JSON`
re-renders a report without the rig.
"""

import json
import os
import statistics

from runner import ENDPOINTS, VARIANTS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(REPO, "docs", "benchmarks.md")
DOC_START, DOC_END = "<!-- bench:generated:start -->", "<!-- bench:generated:end -->"

SCENARIOS = ["ours-issue", "ours-noop", "ours-noop-tls", "ours-renew", "peer-issue", "peer-noop", "floor-ping",
             "floor-acme"]
LABELS = {
    "ours-issue": "ours: `certfleet.tls.issue`, all due",
    "ours-noop": "ours: same playbook, nothing due (`certificate_decide_from: host`, the default)",
    "ours-noop-tls": "ours: same playbook, nothing due, `-e certificate_decide_from=tls`",
    "ours-renew": "ours: `certfleet.tls.renew`, nothing due",
    "peer-issue": "peer: community.crypto playbook, all due",
    "peer-noop": "peer: same playbook, nothing due",
    "floor-ping": "floor: one `ping` task per host",
    "floor-acme": "floor: `acme` library alone, threads",
}

SHARED = {"directory", "newNonce", "newAccount", "account"}
# RFC 8555, one name per certificate: newOrder, authz fetch, challenge POST, one order poll (ready),
# finalize, certificate download; shared by the whole run: directory, one nonce, one account lookup.
MIN_PER_CERT, MIN_SHARED = 6, 3


def base_of(scenario):
    return scenario.split("@", 1)[0]


def label(scenario):
    base, _, variant = scenario.partition("@")
    return LABELS.get(base, base) + (" — variant `%s`" % variant if variant else "")


def scenario_order(keys):
    """Base scenarios in SCENARIOS order, each followed by its variants."""
    return sorted(keys, key=lambda sc: (SCENARIOS.index(base_of(sc)) if base_of(sc) in SCENARIOS else 99, sc))


def med(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def summarize(results):
    """{(N, scenario): summary} with medians over the repetitions."""
    by = {}
    for r in results:
        by.setdefault((r["hosts"], r["scenario"]), []).append(r)
    out = {}
    for key, runs in by.items():
        n = key[0]
        # the run with the median request count stands for the ACME figures and the traces (the first run
        # after a Pebble restart also creates the account; Pebble 2.4 sometimes reuses an authorization)
        first = sorted(runs, key=lambda r: (r["requests_total"], r["rep"]))[(len(runs) - 1) // 2]
        req = first["requests"]
        per_cert = sum(v for k, v in req.items() if k not in SHARED)
        shared = sum(v for k, v in req.items() if k in SHARED)
        out[key] = {
            "runs": len(runs), "wall": med(runs, "wall"), "wall_min": min(r["wall"] for r in runs),
            "wall_max": max(r["wall"] for r in runs), "cpu": med(runs, "cpu"),
            "cpu_hosts": med(runs, "cpu_hosts"), "cpu_ca": med(runs, "cpu_ca"), "cpu_other": med(runs, "cpu_other"),
            "forks": med(runs, "forks"), "peak_pss_mb": med(runs, "peak_pss_mb"), "max_rss_mb": med(runs, "max_rss_mb"),
            "peak_procs": med(runs, "peak_procs"),
            "ssh_logins": med(runs, "ssh_logins"), "ssh_login_hosts": med(runs, "ssh_login_hosts"),
            "ssh_logins_max": max((r.get("ssh_logins") or 0) for r in runs),
            "requests": req, "requests_total": first["requests_total"],
            "requests_all": sorted({r["requests_total"] for r in runs}),
            "per_cert_part": per_cert, "shared_part": shared, "issued": first["issued"],
            "req_per_cert": (first["requests_total"] / first["issued"]) if first["issued"] else None,
            "ssh_executions": first.get("ssh_executions"), "local_executions": first.get("local_executions"),
            "trace": first.get("trace"), "trace_wall": first["wall"],
            "changed": first.get("changed", 0), "hosts": n,
        }
    return out


def fmt(x, nd=2):
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return ("%%.%df" % nd) % x
    return str(x)


def ratio(a, b):
    return (a / b) if (a is not None and b) else None


def verdict(value, limit, ok=True):
    if value is None:
        return "n/a"
    return "**met**" if (value <= limit and ok) else "**missed**"


def table_for(n, s):
    rows = ["| run | wall s | CPU s, controller tree | CPU s, hosts / CA / rest "
            "| module runs, SSH / controller | SSH logins (hosts) | ACME requests | per cert "
            "| peak MB, tree PSS / per host / max RSS |",
            "|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for sc in scenario_order(sc for (m, sc) in s if m == n):
        x = s[(n, sc)]
        wall = fmt(x["wall"])
        if x["runs"] > 1:
            wall += " (%s–%s)" % (fmt(x["wall_min"]), fmt(x["wall_max"]))
        mods = "–" if x["ssh_executions"] is None else "%d / %d" % (x["ssh_executions"], x["local_executions"])
        logins = "–" if x["ssh_logins"] is None or sc == "floor-acme" else "%d (%d)" % (x["ssh_logins"],
                                                                                       x["ssh_login_hosts"])
        req = "%d" % x["requests_total"] + ("" if len(x["requests_all"]) == 1 else " (%s)" % "/".join(map(str, x["requests_all"])))
        rows.append("| %s | %s | %s | %s / %s / %s | %s | %s | %s | %s | %s / %s / %s |" % (
            label(sc), wall, fmt(x["cpu"]), fmt(x["cpu_hosts"]), fmt(x["cpu_ca"]), fmt(x["cpu_other"]), mods,
            logins, req, fmt(x["req_per_cert"]) if x["issued"] else "–", fmt(x["peak_pss_mb"], 0),
            fmt(ratio(x["peak_pss_mb"], n), 1), fmt(x["max_rss_mb"], 0)))
    return "\n".join(rows)


# The brief's targets (issue #11 part 4 and 7, issue #7), all ratios to floors measured in the same run
ISSUE_VS_FLOOR = 3.0     # issuance wall <= 3x the one-ping-per-host playbook
NOOP_HOST_VS_FLOOR = 1.2  # no-op with the default decide_from=host: about the floor (round 1's bound: 1.2)
NOOP_TLS_VS_FLOOR = 0.5   # no-op with decide_from=tls: <= 0.5x the floor, 0 ACME requests, 0 SSH connections
MEMORY_VS_FLOOR = 1.5     # peak controller memory (tree PSS) <= 1.5x the floor's
SSH_TASKS_ISSUE, SSH_TASKS_NOOP = 3, 1  # module runs over SSH per host (issue #7: as before, or fewer)


def targets(s, ns):
    """Rows: (what, N, value text, target, verdict text)."""
    def g(n, sc, k):
        return (s.get((n, sc)) or {}).get(k)

    rows = []
    for n in ns:
        fp = g(n, "floor-ping", "wall")
        oi = g(n, "ours-issue", "wall")
        r = ratio(oi, fp)
        rows.append(("issuance wall, ours / one-`ping` floor", n, fmt(r), "≤ %.1f" % ISSUE_VS_FLOOR,
                     verdict(r, ISSUE_VS_FLOOR)))
        for sc, limit, what in (("ours-noop", NOOP_HOST_VS_FLOOR, "no-op wall (`host`), ours / floor"),
                                ("ours-noop-tls", NOOP_TLS_VS_FLOOR, "no-op wall (`tls`), ours / floor")):
            if not s.get((n, sc)):
                continue
            r = ratio(g(n, sc, "wall"), fp)
            reqs, logins = g(n, sc, "requests_total"), g(n, sc, "ssh_logins_max")
            ok = reqs == 0 and (sc != "ours-noop-tls" or logins == 0)
            rows.append((what, n, "%s (%s ACME requests, %s SSH logins)" % (fmt(r), fmt(reqs), fmt(logins)),
                         "≤ %.1f, 0 requests%s" % (limit, ", 0 SSH logins" if sc == "ours-noop-tls" else ""),
                         verdict(r, limit, ok)))
        for sc, tgt in (("ours-issue", SSH_TASKS_ISSUE), ("ours-noop", SSH_TASKS_NOOP), ("ours-noop-tls", 0)):
            runs = g(n, sc, "ssh_executions")
            if runs is not None:
                rows.append(("module runs over SSH per host, %s" % sc, n, fmt(runs / n), "≤ %d" % tgt,
                             verdict(runs / n, tgt)))
        x = s.get((n, "ours-issue"))
        if x and x["issued"]:
            fl = s.get((n, "floor-acme"))
            strict = MIN_PER_CERT * n + MIN_SHARED
            pebble = (MIN_PER_CERT + 1) * n + MIN_SHARED
            txt = "%d = %.2f/cert × %d + %d shared; RFC minimum %dN+%d = %d; on Pebble %dN+%d = %d" % (
                x["requests_total"], x["per_cert_part"] / x["issued"], x["issued"], x["shared_part"], MIN_PER_CERT,
                MIN_SHARED, strict, MIN_PER_CERT + 1, MIN_SHARED, pebble)
            if fl:
                txt += " (`acme` floor: %d)" % fl["requests_total"]
            v = verdict(x["requests_total"], pebble)
            if x["requests_total"] > pebble:
                v += " (+%d: per-cert part %+d, shared part %+d)" % (
                    x["requests_total"] - pebble, x["per_cert_part"] - (MIN_PER_CERT + 1) * n,
                    x["shared_part"] - MIN_SHARED)
            rows.append(("ACME requests, ours-issue", n, txt, "protocol minimum", v))
        mf = g(n, "floor-ping", "peak_pss_mb")
        for sc in ("ours-issue", "ours-noop", "ours-noop-tls"):
            m = g(n, sc, "peak_pss_mb")
            if m is None:
                continue
            r = ratio(m, mf)
            rows.append(("peak controller memory (tree PSS), %s / floor" % sc, n,
                         "%s (%s MB, %s MB per host; floor %s MB)" % (fmt(r), fmt(m, 0), fmt(ratio(m, n), 1), fmt(mf, 0)),
                         "≤ %.1f" % MEMORY_VS_FLOOR, verdict(r, MEMORY_VS_FLOOR)))
        pi = g(n, "peer-issue", "wall")
        if pi:
            rows.append(("issuance wall, ours / peer", n, fmt(ratio(oi, pi)), "(info; round 1: ≤ 0.50)", ""))
            rows.append(("no-op wall (`host`), ours / peer", n, fmt(ratio(g(n, "ours-noop", "wall"),
                                                                        g(n, "peer-noop", "wall"))), "(info)", ""))
            p = s.get((n, "peer-issue"))
            rows.append(("ACME requests, peer-issue", n, "%d (%.2f/cert)" % (p["requests_total"], p["requests_total"] / n),
                         "(info)", ""))
        rows.append(("issuance wall, ours / `acme` floor", n, fmt(ratio(oi, g(n, "floor-acme", "wall"))), "(info)", ""))
    if len(ns) >= 2:
        lo, hi = min(ns), max(ns)
        floor_growth = ratio(g(hi, "floor-ping", "wall"), g(lo, "floor-ping", "wall"))
        rows.append(("growth of wall N=%d / N=%d, floor-ping" % (hi, lo), hi, fmt(floor_growth), "(reference)", ""))
        for sc in ("ours-issue", "ours-noop", "ours-noop-tls", "peer-issue"):
            r = ratio(g(hi, sc, "wall"), g(lo, sc, "wall"))
            if r is None:
                continue
            ours = sc.startswith("ours-")
            rows.append(("growth of wall N=%d / N=%d, %s" % (hi, lo, sc), hi, fmt(r),
                         "≤ floor's %s" % fmt(floor_growth) if ours else "(info)",
                         verdict(r, floor_growth) if ours and floor_growth else ""))
        mg = ratio(g(hi, "floor-ping", "peak_pss_mb"), g(lo, "floor-ping", "peak_pss_mb"))
        r = ratio(g(hi, "ours-issue", "peak_pss_mb"), g(lo, "ours-issue", "peak_pss_mb"))
        rows.append(("growth of peak memory N=%d / N=%d, ours-issue (floor)" % (hi, lo), hi,
                     "%s (%s)" % (fmt(r), fmt(mg)), "(info)", ""))
    return rows


def targets_table(s, ns):
    lines = ["| measure | N | value | target | verdict |", "|---|--:|---|---|---|"]
    for what, n, val, tgt, v in targets(s, ns):
        lines.append("| %s | %d | %s | %s | %s |" % (what, n, val, tgt, v))
    return "\n".join(lines)


def growth_table(s, ns):
    """Wall and CPU per host at every N, and the marginal cost of one more host between two sizes."""
    lines = ["| run | " + " | ".join("N=%d wall s (per host)" % n for n in ns) +
             " | marginal wall per host s | marginal CPU per host s, controller / hosts |",
             "|---|" + "--:|" * (len(ns) + 2)]
    lo, hi = min(ns), max(ns)
    for sc in ("floor-ping", "ours-issue", "ours-noop", "ours-noop-tls", "peer-issue", "peer-noop"):
        if not any(s.get((n, sc)) for n in ns):
            continue
        cells = []
        for n in ns:
            x = s.get((n, sc))
            cells.append("%s (%s)" % (fmt(x["wall"]), fmt(x["wall"] / n, 3)) if x else "–")
        a, b = s.get((lo, sc)), s.get((hi, sc))
        if a and b and hi > lo:
            marg = fmt((b["wall"] - a["wall"]) / (hi - lo), 3)
            margcpu = "%s / %s" % (fmt((b["cpu"] - a["cpu"]) / (hi - lo), 3),
                                   fmt((b["cpu_hosts"] - a["cpu_hosts"]) / (hi - lo), 3))
        else:
            marg = margcpu = "–"
        lines.append("| %s | %s | %s | %s |" % (sc, " | ".join(cells), marg, margcpu))
    return "\n".join(lines)


def requests_table(s, ns):
    kinds = [k for _p, k in ENDPOINTS]
    lines = ["| run | N | " + " | ".join(kinds) + " | total |", "|---|--:|" + "--:|" * (len(kinds) + 1)]
    for n in ns:
        for sc in ("ours-issue", "peer-issue", "floor-acme", "ours-noop", "ours-noop-tls", "peer-noop"):
            x = s.get((n, sc))
            if x:
                lines.append("| %s | %d | %s | %d |" % (sc, n, " | ".join(str(x["requests"].get(k, 0)) for k in kinds),
                                                        x["requests_total"]))
    return "\n".join(lines)


def variants_table(s, ns):
    """Runs with another Ansible setting (run.py --variants), against the same scenario's baseline."""
    keys = [(n, sc) for (n, sc) in s if "@" in sc]
    if not keys:
        return ""
    lines = ["| run | N | setting | wall s | vs baseline | CPU s, controller / hosts | SSH logins | peak PSS MB |",
             "|---|--:|---|--:|--:|--:|--:|--:|"]
    for n, sc in sorted(keys, key=lambda k: (k[0], scenario_order([k[1]]))):
        x, base = s[(n, sc)], s.get((n, base_of(sc)))
        variant = sc.split("@", 1)[1]
        setting = ", ".join("%s=%s" % kv for kv in sorted(VARIANTS.get(variant, {}).items()))
        lines.append("| %s | %d | `%s` | %s | %s | %s / %s | %s | %s |" % (
            base_of(sc), n, setting or variant, fmt(x["wall"]), fmt(ratio(x["wall"], base["wall"]) if base else None),
            fmt(x["cpu"]), fmt(x["cpu_hosts"]), fmt(x["ssh_logins"]), fmt(x["peak_pss_mb"], 0)))
    return "\n".join(lines)


def _short(name):
    return name.split(" : ", 1)[-1]


def profile_table(prof, n):
    lines = []
    for sc in ("ours-issue", "ours-noop", "ours-noop-tls"):
        p = prof.get(sc)
        if not p:
            continue
        ex = {_short(e["task"]): e for e in p["trace"] or []}
        lines += ["", "`%s`, N=%d, one extra run with `ansible.posix.profile_tasks` (wall %.2f s%s):"
                  % (sc, n, p["wall"], ", CPU controller tree %.1f s, hosts %.1f s" % (p["cpu"], p["cpu_hosts"])
                     if p.get("cpu") is not None else ""),
                  "", "| task | seconds (profile_tasks) | machine CPU s | module runs SSH / controller "
                  "| per host median / max s |", "|---|--:|--:|--:|--:|"]
        for t in p["tasks"][:12]:
            e = ex.get(_short(t["task"]))
            lines.append("| %s | %.2f | %s | %s | %s |" % (
                _short(t["task"]), t["seconds"], fmt(e.get("cpu")) if e else "–",
                "%d / %d" % (e["ssh"], e["local"]) if e else "–",
                "%.2f / %.2f" % (e["host_median"], e["host_max"]) if e else "–"))
        lines.append("| *sum* | %.2f | | | |" % sum(t["seconds"] for t in p["tasks"]))
    return "\n".join(lines)


def anatomy_table(a):
    """The cost of one SSH task on host1, piece by piece (anatomy.py)."""
    if not a:
        return ""
    ssh = a["ssh"]
    rows = ["| piece | wall s | CPU s |", "|---|--:|--:|"]

    def row(what, x, cpu=None):
        if not x or "error" in x:
            rows.append("| %s | %s | |" % (what, (x or {}).get("error", "n/a")))
        else:
            rows.append("| %s | %s | %s |" % (what, fmt(x["wall"], 3), fmt(cpu if cpu is not None else x["cpu"], 3)))
    row("login shell as sshd starts it: `bash -c true` sourcing root's ~/.bashrc (`pyenv init`)", a["bash_rc"])
    row("the same shell without rc files: `bash --norc -c true`", a["bash_norc"])
    row("Python start: `/usr/bin/python3 -c pass`", a["python"])
    row("SSH: cold connection + one exec of `true` (key exchange, login; client CPU)", ssh["cold"])
    row("SSH: one more exec of `true` over the ControlPersist master (client CPU)", ssh["warm_true"])
    row("SSH: one exec of `python3 -c pass` over the master (client CPU)", ssh["warm_python"])
    rows.append("| host side CPU per exec (host1's sshd tree, averaged over the %d execs above) | | %s |"
                % (ssh["execs"], fmt(ssh["host_cpu_per_exec"], 3)))
    for p in a["payloads"]:
        if "error" in p:
            rows.append("| payload capture, %s | %s | |" % (p["run"], p["error"]))
            continue
        what = "AnsiballZ payload `%s` (%s): %.0f KB" % (p["module"], p["run"], p["bytes"] / 1024)
        if p.get("zip"):
            what += " (zip of %d files, %d KB, of which certfleet.tls %d KB)" % (p["zip"]["files"], p["zip"]["kb"],
                                                                                p["zip"]["ours_kb"])
        if p.get("replay"):
            what += "; run again on the host without SSH (`python3 < payload`)"
            if p.get("import_basic") is not None:
                what += ", of which importing ansible.module_utils.basic %.3f s" % p["import_basic"]
            row(what, p["replay"])
        else:
            rows.append("| %s | | |" % what)
    execs = {}
    for p in a["payloads"]:
        execs[p["run"]] = execs.get(p["run"], 0) + (0 if "error" in p else 1)
    rows += ["", "Python execs on host1 per run (payloads captured): %s." % ", ".join(
        "%s %d" % kv for kv in execs.items())]
    return "\n".join(rows)


def trace_table(x, title):
    """Tasks of one measured run by time span (first host start to last host end), from bench_trace."""
    tasks = sorted(x.get("trace") or [], key=lambda t: -t["span"])
    lines = ["", title, "", "| task | span s | machine CPU s | module runs SSH / controller | per host median / max s |",
             "|---|--:|--:|--:|--:|"]
    for t in [t for t in tasks if t["span"] >= 0.01][:12]:
        lines.append("| %s | %.2f | %s | %d / %d | %.2f / %.2f |" % (
            _short(t["task"]), t["span"], fmt(t.get("cpu")), t["ssh"], t["local"], t["host_median"], t["host_max"]))
    return "\n".join(lines)


def repeats(s, ns):
    """'N=20: 3 runs each (peer 1), N=100: 1 run each' from the summaries."""
    parts = []
    for n in ns:
        ours = sorted({x["runs"] for (m, sc), x in s.items() if m == n and not sc.startswith("peer-")})
        peer = sorted({x["runs"] for (m, sc), x in s.items() if m == n and sc.startswith("peer-")})
        txt = "N=%d: %s run%s each" % (n, "/".join(map(str, ours)), "" if ours == [1] else "s")
        if peer and peer != ours:
            txt += " (peer %s)" % "/".join(map(str, peer))
        parts.append(txt)
    return ", ".join(parts)


def render(data, args, cmdline):
    s = summarize(data["runs"])
    ns = sorted({r["hosts"] for r in data["runs"]})
    m = data["machine"]
    v = m.get("versions", {})
    peer_ns = sorted({r["hosts"] for r in data["runs"] if r["scenario"].startswith("peer-")})
    out = ["Measured %s on commit `%s`: %d cores (%s), %.0f GB RAM, Linux %s, Debian %s, Python %s, "
           "ansible-core %s (ansible %s, community.crypto %s), acme %s, cryptography %s, Pebble %s, OpenSSH %s."
           % (m["date"], m["commit"], m["nproc"], m["cpu"], m["mem_gb"], m["kernel"], m["debian"], m["python"],
              v.get("ansible-core"), v.get("ansible"), m["community.crypto"], v.get("acme"), v.get("cryptography"),
              m["pebble"], m["openssh"]),
           "",
           ("Measured tree: the collection under `%s` (`--collections`: an experiment, not a commit)."
            % m["collections"]) if m.get("collections") else
           ("Measured tree: commit `%s` as committed (`--ref %s`: git archive, not the working tree)."
            % (m["commit"], m["ref"])) if m.get("ref") else
           "Working tree: %s." % ("clean in plugins/, roles/, playbooks/, meta/" if not m.get("dirty") else
                                  "%d uncommitted file(s) in plugins/, roles/, playbooks/, meta/ (%s)"
                                  % (len(m["dirty"]), ", ".join(m["dirty"][:6]) + (", ..." if len(m["dirty"]) > 6 else ""))),
           "",
           ("Extra vars given to our playbook on the rig (its inventory does not set them; the role checks CAA "
            "before ordering and Pebble's directory names no CAA identity): `%s`." % json.dumps(m["ours_extra_vars"],
                                                                                        sort_keys=True))
           if m.get("ours_extra_vars") else "Our playbook ran with the rig's inventory alone.",
           "",
           "Reproduce: `make bench` (runs `$(PY) bench/run.py --base $(BASE)`, it takes the rig lock itself); "
           "this report came from `%s`." % cmdline,
           "Each figure is the median of the measured runs (%s; range in brackets); the peer ran at N = %s. The rig "
           "runs on the same 2 cores as the controller, so host-side CPU (sshd sessions, remote modules, web-server "
           "reloads) competes with Ansible." % (repeats(s, ns), ", ".join(map(str, peer_ns)) or "none"), ""]
    out += ["Columns: *wall* from start to exit of the run; *CPU, controller tree* = user+system of every process "
            "the run started (ansible-playbook, its forks, local modules, ssh clients and their ControlPersist masters); "
            "*hosts* = the rig's sshd and web-server process trees (remote modules, reloads), *CA* = Pebble and its "
            "DNS, *rest* = everything else busy on the machine in the same window (kernel softirq of the loopback "
            "traffic, other users' work: a noise indicator); *module runs* from the bench_trace callback "
            "(controller-only actions such as `set_fact`, `meta`, `debug` excluded; one per loop item; with pipelining "
            "a module run is one SSH exec); *SSH logins* = SSH connections the hosts' sshd accepted during the run "
            "(one per host while its ControlPersist master lives), and in brackets how many hosts got one; "
            "*peak MB* = the largest sum of PSS over the run's process tree (sampled every 0.25 s), that sum per "
            "host of the run, and the largest RSS of ansible-playbook itself.", ""]
    for n in ns:
        out += ["### N = %d hosts" % n, "", table_for(n, s), ""]
    out += ["### Targets", "", targets_table(s, ns), "",
            "Protocol minimum (RFC 8555, one name per certificate): per certificate newOrder, authz fetch, challenge "
            "POST, one order poll, finalize, certificate download = %d; per run the directory, one nonce and one "
            "account lookup = %d, so %dN+%d. Pebble 2.4 answers finalize with `processing`, so one more order poll "
            "per certificate is unavoidable there: 7N+3 is the attainable minimum on this rig (the `acme` floor "
            "reaches it) and the verdict is against it. Pebble 2.4 also reuses a valid authorization about 1 %% of "
            "the time even with PEBBLE_AUTHZREUSE=0 (its test is `rand.Intn(100) > percent`), which saves a "
            "challenge now and then: counts in brackets are those of all repetitions." % (MIN_PER_CERT, MIN_SHARED, MIN_PER_CERT, MIN_SHARED), "",
            "### How cost grows with N", "",
            "Wall time at each size (in brackets per host), and the marginal cost of one more host between the "
            "smallest and the largest size (the slope, which the fixed start-up cost does not blur):", "",
            growth_table(s, ns), "",
            "### ACME requests by endpoint", "", requests_table(s, ns), ""]
    vt = variants_table(s, ns)
    if vt:
        out += ["### Other Ansible settings (same rig, same run)", "", vt, ""]
    if data.get("profiles"):
        n = max(int(k) for k in data["profiles"])
        out += ["### Where our playbook spends its time (profile_tasks)", profile_table(data["profiles"][str(n)], n), ""]
    if data.get("anatomy"):
        out += ["### Anatomy of one SSH task (host1, median of %d)" % data["anatomy"]["k"], "",
                anatomy_table(data["anatomy"]), ""]
    n = max(ns)
    for sc, what in (("ours-issue", "ours"), ("ours-noop", "ours"), ("ours-noop-tls", "ours"),
                     ("peer-issue", "the peer")):
        if s.get((n, sc)) and s[(n, sc)].get("trace"):
            out += [trace_table(s[(n, sc)], "Where %s spends its time: `%s`, N=%d, the measured run with the median "
                                            "ACME request count (wall %.2f s), from the bench_trace callback. With the "
                                            "linear strategy the tasks run one after another, so the spans add up to the "
                                            "wall time less Ansible's start-up; *machine CPU* is the busy time of both "
                                            "cores from this task's start to the next one's:"
                                % (what, sc, n, s[(n, sc)]["trace_wall"])), ""]
    return "\n".join(out)


def write_doc(path, generated):
    block = "%s\n%s\n%s" % (DOC_START, generated.rstrip(), DOC_END)
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
        if DOC_START in text and DOC_END in text:
            head, rest = text.split(DOC_START, 1)
            text = head + block + rest.split(DOC_END, 1)[1]
        else:
            text = text.rstrip() + "\n\n" + block + "\n"
    else:
        text = ("# Benchmarks: fleet issuance and no-op renewal\n\n"
                "Generated by `bench/run.py` between the markers; the analysis below them is written by hand.\n\n"
                + block + "\n\n## Analysis\n\n(to be written)\n")
    with open(path, "w") as f:
        f.write(text)

