#!/usr/bin/env python3
"""Fleet issuance and no-op renewal benchmark (issue #4): certfleet.tls vs community.crypto, same rig.

    bench/run.py [--base /tmp/certfleet] [--hosts 20,100] [--repeat 3] [--peer-repeat R] [--peer-max-hosts 20]
                 [--quick] [--no-peer] [--no-profile] [--scenarios S,...] [--variants V,...] [--ref COMMIT]
                 [--collections PATH]
                 [--doc docs/benchmarks.md | --no-doc] [--render RESULTS_JSON[,RESULTS_JSON...]]

For each N it brings the rig up with N hosts, then measures, --repeat times in turn:
  ours-issue     ansible-playbook certfleet.tls.issue after `rig.py reset-hosts` (every host due)
  ours-noop      the same playbook again: nothing due, decided on each host (certificate_decide_from: host)
  ours-noop-tls  the same with -e certificate_decide_from=tls: decided from what every host serves
  peer-issue     bench/peer/issue.yml (community.crypto 3.x, ACME on the controller) from nothing
  peer-noop      the same again (the peer runs only at N <= --peer-max-hosts: at N=100 it takes minutes)
  floor-ping     bench/floor/ping.yml: one ansible.builtin.ping per host
  floor-acme     bench/floor/acme_threads.py: the `acme` library alone, N issuances in threads
  (ours-renew    certfleet.tls.renew with nothing due, once the collection has that playbook)
and, once per N at the end, an extra profile_tasks run of ours-issue, ours-noop and ours-noop-tls (not in
the medians); at the largest N, the anatomy of one SSH task on host1 (bench/anatomy.py).
--variants NAME,... also runs each of our scenarios and the floor with another Ansible setting (runner.VARIANTS:
no-pipelining, forks-N, ssh-no-compression, persist-600, free-strategy), reported against the baseline.

Each run is measured from outside: wall time; CPU of the whole process tree (RUSAGE_CHILDREN delta, with
this process made a child subreaper so that the daemonised ssh ControlPersist masters are counted: they
are closed and reaped after each run, and closed before it so that every run starts cold); CPU of the
rig's hosts (sshd sessions, web servers) and of the CA, from /proc/PID/stat; CPU of anything else on the
machine in the same window (noise); peak memory of the tree (sum of PSS, sampled every 0.25 s) and the
largest single RSS; ACME requests from Pebble's log between two marks; SSH connections from the hosts'
sshd logs ("Accepted publickey") between two marks. Every issuance is checked over TLS afterwards (each
host serves a new certificate that verifies against Pebble's root). Every measured issuance of ours uses a
new ACME account, registered before the run (see runner.Bench.fresh_account).

The rig is shared: the whole benchmark holds /tmp/certfleet/rig.lock (flock; already held by a
`flock ... bench/run.py` wrapper is detected and fine). At the end the rig is left up with 3 hosts.
Results: bench/results/<stamp>/ (logs, traces, results.json, table.md); docs/benchmarks.md unless --quick
(only the part between its bench:generated markers is rewritten). `--render RESULTS_JSON[,...]` re-renders
the report from saved results without touching the rig; several files are merged (runs, profiles, anatomy),
so that sizes measured in separate invocations (each holding the rig lock briefly) make one report.
Exit status 1 with a message when a playbook run fails or a host does not serve its new certificate.

This file is the command line; runner.py starts the rig, runs and measures, report.py computes the medians
and ratios and renders the tables and docs/benchmarks.md.
"""

import argparse
import json
import os
import sys

from report import DOC, render, write_doc
from runner import Bench, BenchError, acquire_rig_lock, log


def load(path):
    with open(path) as f:
        return json.load(f)


def merge(datas):
    """One results document from several invocations: every run kept, profiles per N and the anatomy from the
    last that has them, the header (machine, commit, args) of the last, and every command line."""
    if len(datas) == 1:
        return datas[0]
    runs = {}
    for d in datas:
        for r in d["runs"]:
            runs[(r["hosts"], r["scenario"], r["rep"], d["cmdline"])] = r
    out = dict(datas[-1])
    out["runs"] = list(runs.values())
    out["profiles"] = {}
    for d in datas:
        out["profiles"].update(d.get("profiles") or {})
        out["anatomy"] = d.get("anatomy") or out.get("anatomy")
    args = dict(out["args"])
    reps = {}
    for r in out["runs"]:
        reps.setdefault((r["hosts"], r["scenario"]), set()).add((r["rep"], r["log"]))
    args["repeat"] = min(len(v) for k, v in reps.items() if not k[1].startswith("peer-"))
    args["peer_repeat"] = min([len(v) for k, v in reps.items() if k[1].startswith("peer-")] or [0])
    out["args"] = args
    out["cmdline"] = " + ".join(dict.fromkeys(d["cmdline"] for d in datas))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default=os.environ.get("CERTFLEET_BASE", "/tmp/certfleet"),
                    help="the Makefile's BASE: venv/, collections/, rig/ (default /tmp/certfleet)")
    ap.add_argument("--hosts", default="20,100", help="comma-separated host counts (default 20,100; the rig: 1..254)")
    ap.add_argument("--repeat", type=int, default=3, help="measured repetitions of each run (default 3)")
    ap.add_argument("--peer-repeat", type=int, default=None,
                    help="repetitions of the (slow) peer runs, at most --repeat (default: --repeat)")
    ap.add_argument("--peer-max-hosts", type=int, default=20,
                    help="run the peer only at N up to this (default 20: at N=100 one peer issuance takes minutes)")
    ap.add_argument("--scenarios", help="comma-separated subset of the scenarios (default: all)")
    ap.add_argument("--variants", help="comma-separated Ansible setting variants to run too (runner.VARIANTS)")
    ap.add_argument("--ref", help="measure this commit (git archive into BASE/bench/tree-<commit>) instead of the "
                    "working tree linked in BASE/collections, e.g. HEAD while others edit the tree")
    ap.add_argument("--collections", help="measure the certfleet.tls found under this collections path instead "
                    "(an experiment with a patched copy; the report says so)")
    ap.add_argument("--quick", action="store_true", help="smoke check: N=3, once, no peer, no profile, no doc")
    ap.add_argument("--no-peer", action="store_true", help="skip the community.crypto peer")
    ap.add_argument("--no-profile", action="store_true", help="skip the profile_tasks runs")
    ap.add_argument("--doc", default=None, help="markdown file to (re)write (default docs/benchmarks.md)")
    ap.add_argument("--no-doc", action="store_true", help="do not write the markdown file")
    ap.add_argument("--out", help="results directory (default bench/results/<stamp>)")
    ap.add_argument("--lock", default="/tmp/certfleet/rig.lock", help="the shared rig lock (flock)")
    ap.add_argument("--final-hosts", type=int, default=3, help="hosts the rig is left up with (default 3)")
    ap.add_argument("--render", metavar="RESULTS_JSON", help="only re-render the report (and the doc) from results")
    args = ap.parse_args(argv)
    if args.render:
        data = merge([load(path) for path in args.render.split(",") if path])
        report = render(data, argparse.Namespace(**data["args"]), data.get("cmdline", "bench/run.py"))
        print(report)
        if not args.no_doc:
            write_doc(os.path.abspath(args.doc or DOC), report)
        return 0
    if args.quick:
        args.hosts, args.repeat, args.no_peer, args.no_profile = "3", 1, True, True
        args.no_doc = args.no_doc or args.doc is None
    args.hosts = [int(x) for x in str(args.hosts).split(",") if x.strip()]
    args.scenarios = [x for x in (args.scenarios or "").split(",") if x] or None
    args.variants = [x for x in (args.variants or "").split(",") if x]
    if args.peer_repeat is None:
        args.peer_repeat = args.repeat

    lock = acquire_rig_lock(args.lock)
    bench = Bench(args)
    status = 0
    try:
        bench.run()
    except BenchError as e:
        log("FAILED: %s" % e)
        status = 1
    except KeyboardInterrupt:
        log("interrupted")
        status = 130
    finally:
        try:
            bench.leave_rig_up(args.final_hosts)
        except BenchError as e:
            log("could not restore the rig: %s" % e)
            status = status or 1
        if lock is not None:
            os.close(lock)
    data = bench.save()
    if not data["runs"]:
        return status or 1
    report = render(data, args, bench.cmdline)
    with open(os.path.join(bench.out, "table.md"), "w") as f:
        f.write(report + "\n")
    print(report)
    if status == 0 and not args.no_doc:
        write_doc(os.path.abspath(args.doc or DOC), report)
        log("wrote %s" % (args.doc or DOC))
    log("results in %s" % bench.out)
    return status


if __name__ == "__main__":
    sys.exit(main())
