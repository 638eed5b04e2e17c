"""The benchmark's runner: brings the rig up with N hosts, runs each scenario, measures it from outside.

Measures per run: wall time, CPU of the run's process tree and of the rig's hosts and CA, noise from
the rest of the machine, peak memory, ACME requests counted in Pebble's log, and per-task timings from
the bench_trace callback. Bench.save() writes results.json; report.py turns it into tables.
bench/run.py is the command line (see its docstring for the scenarios and how each run is measured).
"""

import ctypes
import datetime
import fcntl
import json
import os
import platform
import re
import resource
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time

from anatomy import anatomy

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
RIG_PY = os.path.join(REPO, "tests", "rig", "rig.py")
PEER_PLAYBOOK = os.path.join(HERE, "peer", "issue.yml")
PING_PLAYBOOK = os.path.join(HERE, "floor", "ping.yml")
ACME_FLOOR = os.path.join(HERE, "floor", "acme_threads.py")
CALLBACKS = os.path.join(HERE, "callback_plugins")  # bench_trace: per task and host timings, every run
OURS_ISSUE = "certfleet.tls.issue"
OURS_RENEW = "certfleet.tls.renew"  # hook: measured once playbooks/renew.yml exists
TLS_DECIDE = ["-e", "certificate_decide_from=tls"]  # the opt-in no-op: decide from what every host serves
# run.py --variants NAME,...: scenario@NAME runs with these environment variables on top of the rig's ansible.cfg
# (Ansible's documented ANSIBLE_* settings), to show what a setting a user can choose changes
# The role checks CAA before any order (RFC 8659), and Pebble's directory lists no meta.caaIdentities: on the rig
# our playbook needs the CA's identity and the rig's DNS server. Given as extra vars while the rig's inventory
# does not set them (the values the integration tests use).
RIG_CAA_VARS = {"certificate_caa_identities": ["pebble.letsencrypt.org"]}
RIG_RESOLVER_VARS = {"certificate_dns_resolver": "rig_dns_server", "certificate_dns_resolver_port": "rig_dns_port"}
VARIANTS = {
    "no-pipelining": {"ANSIBLE_PIPELINING": "False"},
    "forks-50": {"ANSIBLE_FORKS": "50"},
    "forks-100": {"ANSIBLE_FORKS": "100"},
    "forks-10": {"ANSIBLE_FORKS": "10"},
    "ssh-no-compression": {"ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=60s"},
    "persist-600": {"ANSIBLE_SSH_ARGS": "-C -o ControlMaster=auto -o ControlPersist=600s"},
    "free-strategy": {"ANSIBLE_STRATEGY": "free"},
}
CLK_TCK = os.sysconf("SC_CLK_TCK")
PR_SET_CHILD_SUBREAPER = 36
SAMPLE_INTERVAL = 0.25

# Pebble logs "<METHOD> <path> -> calling handler()" for every ACME request
REQUEST_RE = re.compile(r"^Pebble \S+ \S+ (GET|HEAD|POST) (/\S*) -> calling handler")
ENDPOINTS = [("/dir", "directory"), ("/nonce-plz", "newNonce"), ("/sign-me-up", "newAccount"),
             ("/my-account/", "account"), ("/order-plz", "newOrder"), ("/authZ/", "authz"),
             ("/chalZ/", "challenge"), ("/my-order/", "order"), ("/finalize-order/", "finalize"),
             ("/certZ/", "certificate")]
# each rig sshd logs one "Accepted publickey" line per SSH connection (a ControlPersist master is one)
SSH_LOGIN = b"Accepted publickey for "


class BenchError(RuntimeError):
    pass


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------
# the shared rig lock
# ------------------------------------------------------------------------------------------------

def _ancestors():
    pids, pid = set(), os.getpid()
    while pid > 1:
        try:
            with open("/proc/%d/stat" % pid) as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
        pids.add(pid)
    return pids


def _lock_holders(fd):
    st = os.fstat(fd)
    want = "%02x:%02x:%d" % (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    holders = set()
    with open("/proc/locks") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 5 and fields[1] != "->" and fields[5] == want:
                holders.add(int(fields[4]))
    return holders


def acquire_rig_lock(path):
    """flock(path) for the whole run, unless an ancestor (`flock path bench/run.py`) already holds it."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd
    except BlockingIOError:
        pass
    holders = _lock_holders(fd)
    if holders & _ancestors():
        log("rig lock %s is held by our caller (pid %s): running under it" % (path, sorted(holders)))
        os.close(fd)
        return None
    log("waiting for the rig lock %s (held by pid %s)" % (path, sorted(holders) or "?"))
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


# ------------------------------------------------------------------------------------------------
# /proc helpers
# ------------------------------------------------------------------------------------------------

def _stat_fields(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()


def children(pid):
    kids = []
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return kids
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                kids.extend(int(k) for k in f.read().split())
        except OSError:
            pass
    return kids


def descendants(root):
    out, stack = [], [root]
    while stack:
        for k in children(stack.pop()):
            out.append(k)
            stack.append(k)
    return out


def tree_cpu(roots):
    """Seconds of CPU of the processes `roots` and everything below them, reaped children included."""
    ticks = 0
    for root in roots:
        for pid in [root] + descendants(root):
            try:
                f = _stat_fields(pid)
            except OSError:
                continue
            ticks += sum(int(x) for x in f[11:15])  # utime stime cutime cstime
    return ticks / CLK_TCK


def machine_stat():
    """(busy CPU seconds of the whole machine, processes forked since boot)."""
    busy, forks = 0.0, 0
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu "):
                v = [int(x) for x in line.split()[1:]]
                busy = (sum(v[:8]) - v[3] - v[4]) / CLK_TCK  # all but idle and iowait
            elif line.startswith("processes "):
                forks = int(line.split()[1])
    return busy, forks


def pss_kb(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class TreeSampler(threading.Thread):
    """Peak of the summed PSS of this process's descendants, and the peak process count."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.peak_kb = 0
        self.peak_procs = 0

    def run(self):
        me = os.getpid()
        while not self.stop.wait(SAMPLE_INTERVAL):
            pids = descendants(me)
            self.peak_procs = max(self.peak_procs, len(pids))
            self.peak_kb = max(self.peak_kb, sum(pss_kb(p) for p in pids))


def set_subreaper(on):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1 if on else 0, 0, 0, 0) != 0:
        raise BenchError("prctl(PR_SET_CHILD_SUBREAPER) failed: errno %d" % ctypes.get_errno())


def reap_orphans(timeout=5.0):
    """Wait for the ssh masters that were re-parented to us; returns how many are still alive."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return 0
        if pid:
            continue
        if time.monotonic() > deadline:
            return len(children(os.getpid()))
        time.sleep(0.02)


# ------------------------------------------------------------------------------------------------
# the bench
# ------------------------------------------------------------------------------------------------

class Bench:
    def __init__(self, args):
        self.args = args
        self.base = os.path.abspath(args.base)
        self.rig_base = os.path.join(self.base, "rig")
        self.venv_bin = os.path.join(self.base, "venv", "bin")
        self.playbook_bin = os.path.join(self.venv_bin, "ansible-playbook")
        if not os.access(self.playbook_bin, os.X_OK):
            self.playbook_bin = shutil.which("ansible-playbook") or self.playbook_bin
        self.collections = os.path.join(self.base, "collections")
        self.ref = None
        if getattr(args, "ref", None):
            self.ref, self.collections = export_tree(args.ref, os.path.join(self.base, "bench"))
        if getattr(args, "collections", None):  # an experiment: a patched copy of the collection
            self.collections = os.path.abspath(args.collections)
        self.peer_state = os.path.join(self.base, "bench", "peer-state")
        stamp = time.strftime("%Y%m%dT%H%M%S")
        self.out = os.path.abspath(args.out or os.path.join(HERE, "results", stamp))
        os.makedirs(self.out, exist_ok=True)
        self.results = []  # one dict per measured run
        self.profiles = {}  # N -> {"ours-issue": [...], "ours-noop": [...], "ours-noop-tls": [...]}
        self.anatomy = None  # anatomy.anatomy(): the cost of one SSH task, piece by piece
        self.ours_vars, self.ours_vars_file = {}, None
        self.accounts = 0  # fresh_account() keys made so far
        self.rig_pids = {"hosts": [], "ca": []}
        self.hosts = 0
        self.machine = machine_facts(self.playbook_bin)
        if self.ref:  # the committed tree was measured, whatever the working tree holds
            self.machine.update(commit=self.ref[:7], dirty=[], ref=args.ref)
        if getattr(args, "collections", None):
            self.machine.update(collections=self.collections)
        self.cmdline = " ".join(["bench/run.py"] + list(sys.argv[1:]))

    # -- rig ---------------------------------------------------------------------------------------
    def rig(self, *argv):
        cmd = [sys.executable, RIG_PY, "--base", self.rig_base] + list(argv)
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if p.returncode != 0:
            raise BenchError("%s failed (exit %d):\n%s" % (" ".join(cmd), p.returncode, p.stderr.strip()))
        return json.loads(p.stdout) if p.stdout.strip().startswith("{") else {}

    def rig_up(self, n):
        log("rig up --hosts %d" % n)
        self.rig("up", "--hosts", str(n))
        self.write_ours_vars()
        st = self.rig("status")
        self.hosts = n
        self.rig_pids = {"hosts": [], "ca": [st["pebble"]["pid"], st["challtestsrv"]["pid"]]}
        for i in range(1, n + 1):
            h = st["hosts"]["host%d" % i]
            self.rig_pids["hosts"] += [h["sshd"]["pid"], h["web"]["pid"]]
        if not all(self.rig_pids["hosts"] + self.rig_pids["ca"]):
            raise BenchError("rig up --hosts %d: not everything is alive: %s" % (n, json.dumps(st)))

    def reset_hosts(self):
        """Every host back to its self-signed placeholder, the peer's files and state gone."""
        self.rig("reset-hosts")
        for i in range(1, self.hosts + 1):
            shutil.rmtree(os.path.join(self.rig_base, "hosts", "host%d" % i, "ssl", "peer"), ignore_errors=True)
        shutil.rmtree(self.peer_state, ignore_errors=True)

    def close_control_masters(self):
        cp = os.path.join(self.rig_base, "cp")
        procs = []
        for name in os.listdir(cp) if os.path.isdir(cp) else []:
            sock = os.path.join(cp, name)
            procs.append(subprocess.Popen(["ssh", "-O", "exit", "-o", "ControlPath=%s" % sock, "x"],
                                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
        for p in procs:
            p.wait()

    def pebble_offset(self):
        try:
            return os.path.getsize(os.path.join(self.rig_base, "logs", "pebble.log"))
        except OSError:
            return 0

    def sshd_offsets(self):
        """{host: size of its sshd log}, to count the SSH connections a run opens (see ssh_logins)."""
        out = {}
        for i in range(1, self.hosts + 1):
            try:
                out["host%d" % i] = os.path.getsize(os.path.join(self.rig_base, "logs", "sshd-host%d.log" % i))
            except OSError:
                out["host%d" % i] = 0
        return out

    def ssh_logins(self, offsets):
        """{host: SSH connections accepted since offsets} (hosts with none left out)."""
        out = {}
        for host, offset in offsets.items():
            try:
                with open(os.path.join(self.rig_base, "logs", "sshd-%s.log" % host), "rb") as f:
                    f.seek(offset)
                    count = f.read().count(SSH_LOGIN)
            except OSError:
                continue
            if count:
                out[host] = count
        return out

    def acme_requests(self, offset):
        counts, issued = {}, 0
        with open(os.path.join(self.rig_base, "logs", "pebble.log"), "rb") as f:
            f.seek(offset)
            for line in f.read().decode("utf-8", "replace").splitlines():
                if "Issued certificate serial" in line:
                    issued += 1
                m = REQUEST_RE.match(line)
                if not m:
                    continue
                kind = next((k for prefix, k in ENDPOINTS if m.group(2).startswith(prefix)), "other")
                counts[kind] = counts.get(kind, 0) + 1
        return counts, issued

    def served(self, verify):
        """{host: serial} of what each host serves on :443 (verified against Pebble's root if asked)."""
        from cryptography import x509  # the venv's; the bench runs with the venv python
        out = {}
        for i in range(1, self.hosts + 1):
            name = "host%d.test" % i
            if verify:
                ctx = ssl.create_default_context(cafile=os.path.join(self.rig_base, "pebble", "root.pem"))
            else:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            try:
                with socket.create_connection(("127.0.1.%d" % i, 443), timeout=5) as s:
                    with ctx.wrap_socket(s, server_hostname=name) as t:
                        out["host%d" % i] = x509.load_der_x509_certificate(t.getpeercert(True)).serial_number
            except (OSError, ssl.SSLError) as e:
                out["host%d" % i] = "error: %s" % e
        return out

    def check_new_certs(self, label, before):
        deadline = time.monotonic() + 10  # Apache's graceful restart is not instantaneous
        while True:
            after = self.served(verify=True)
            bad = {h: s for h, s in after.items() if isinstance(s, str) or s == before.get(h)}
            if not bad or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        if bad:
            raise BenchError("%s: these hosts do not serve a new certificate verifying against Pebble's root: %s"
                             % (label, bad))

    # -- running -----------------------------------------------------------------------------------
    def env(self, extra=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
        env.update({
            "ANSIBLE_CONFIG": os.path.join(self.rig_base, "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": self.collections,
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_CALLBACK_PLUGINS": CALLBACKS,
            "ANSIBLE_CALLBACKS_ENABLED": "bench_trace",
            "CERTFLEET_RIG": self.rig_base,
            "PATH": self.venv_bin + os.pathsep + env.get("PATH", "/usr/bin:/bin"),
        })
        env.update(extra or {})
        return env

    def measure(self, scenario, argv, rep, env=None):
        n = self.hosts
        logfile = os.path.join(self.out, "n%d-%s-%d.log" % (n, scenario, rep))
        tracefile = logfile[:-4] + ".trace.json"
        env = dict(env or self.env(), BENCH_TRACE_FILE=tracefile)
        set_subreaper(True)
        try:
            self.close_control_masters()  # every run starts without an SSH connection
            reap_orphans()
            offset = self.pebble_offset()
            sshd0 = self.sshd_offsets()
            ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            hosts0, ca0 = tree_cpu(self.rig_pids["hosts"]), tree_cpu(self.rig_pids["ca"])
            busy0, forks0 = machine_stat()
            load = os.getloadavg()[0]
            sampler = TreeSampler()
            sampler.start()
            t0 = time.monotonic()
            with open(logfile, "wb") as out:
                out.write(("$ %s\n" % " ".join(argv)).encode())
                out.flush()
                p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                     env=env, cwd=REPO)
                _pid, status, ru_main = os.wait4(p.pid, 0)
            wall = time.monotonic() - t0
            p.returncode = os.waitstatus_to_exitcode(status)
            sampler.stop.set()
            sampler.join()
            self.close_control_masters()  # end the re-parented ssh masters, so that their CPU is counted
            left = reap_orphans()
            time.sleep(0.2)  # sshd reaps its sessions
            ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            hosts1, ca1 = tree_cpu(self.rig_pids["hosts"]), tree_cpu(self.rig_pids["ca"])
            busy1, forks1 = machine_stat()
        finally:
            set_subreaper(False)
        cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        requests, issued = self.acme_requests(offset)
        logins = self.ssh_logins(sshd0)
        with open(logfile, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        if p.returncode != 0:
            raise BenchError("%s (N=%d) failed with exit status %d: %s\n  see %s; last lines:\n%s"
                             % (scenario, n, p.returncode, " ".join(argv), logfile,
                                "\n".join("    | " + x for x in text.splitlines()[-25:])))
        r = {
            "scenario": scenario, "hosts": n, "rep": rep, "wall": round(wall, 3),
            "cpu": round(cpu, 3), "cpu_user": round(ru1.ru_utime - ru0.ru_utime, 3),
            "cpu_hosts": round(hosts1 - hosts0, 2), "cpu_ca": round(ca1 - ca0, 2),
            "cpu_other": round(max(0.0, (busy1 - busy0) - cpu - (hosts1 - hosts0) - (ca1 - ca0)), 2),
            "forks": forks1 - forks0, "loadavg_before": round(load, 2),
            "peak_pss_mb": round(sampler.peak_kb / 1024, 1), "peak_procs": sampler.peak_procs,
            "max_rss_mb": round(ru_main.ru_maxrss / 1024, 1), "orphans_left": left,
            "requests": requests, "requests_total": sum(requests.values()), "issued": issued,
            "ssh_logins": sum(logins.values()), "ssh_login_hosts": len(logins),
            "log": logfile,
        }
        r.update(parse_recap(text))
        r.update(trace_summary(tracefile))
        return r

    def playbook(self, playbook, *extra, fresh_account=False):
        argv = [self.playbook_bin, playbook] + list(extra)
        if playbook == OURS_ISSUE and self.ours_vars_file:
            argv += ["-e", "@" + self.ours_vars_file]
        if fresh_account:
            argv += ["-e", "certificate_account_key_path=%s" % self.fresh_account()]
        return argv

    def fresh_account(self):
        """A new account key, registered on Pebble before the measured run (not measured).

        Pebble 2.4 reuses a valid authorization of the same account about 1 % of the time even with
        PEBBLE_AUTHZREUSE=0; the order then has no challenge to push, and the role abandons it (see
        docs/benchmarks.md). A new account per issuance has no valid authorization, and being registered
        beforehand, the measured run finds an existing account, as a daily job does.
        """
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        self.accounts += 1
        path = os.path.join(self.out, "account-%d.key" % self.accounts)
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        p = subprocess.run([sys.executable, ACME_FLOOR, "--rig-base", self.rig_base, "--register-only",
                            "--account-key", path], stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if p.returncode != 0:
            raise BenchError("registering a new ACME account on Pebble failed: %s" % p.stderr.strip()[-500:])
        return path

    def write_ours_vars(self):
        """Extra vars our playbook needs on the rig and the inventory does not set (see RIG_CAA_VARS)."""
        import yaml  # comes with ansible-core
        with open(os.path.join(self.rig_base, "inventory.yml")) as f:
            inventory_vars = (yaml.safe_load(f).get("all") or {}).get("vars") or {}
        extra = {k: v for k, v in RIG_CAA_VARS.items() if k not in inventory_vars}
        for var, rig_var in RIG_RESOLVER_VARS.items():
            if var not in inventory_vars and rig_var in inventory_vars:
                extra[var] = inventory_vars[rig_var]
        self.ours_vars = extra
        self.ours_vars_file = None
        if extra:
            self.ours_vars_file = os.path.join(self.out, "ours-extra-vars.json")
            with open(self.ours_vars_file, "w") as f:
                json.dump(extra, f)
            log("extra vars for our playbook on the rig: %s" % json.dumps(extra))

    def run_scenario(self, scenario, rep):
        base, _, variant = scenario.partition("@")
        if variant:
            if variant not in VARIANTS:
                raise BenchError("unknown variant %r (known: %s)" % (variant, ", ".join(sorted(VARIANTS))))
            saved = self.env
            self.env = lambda extra=None: saved(dict(VARIANTS[variant], **(extra or {})))
            try:
                return self._run_scenario(base, rep, scenario)
            finally:
                self.env = saved
        return self._run_scenario(scenario, rep, scenario)

    def _run_scenario(self, scenario, rep, label):
        n = self.hosts
        if scenario == "ours-issue":
            self.reset_hosts()
            before = self.served(verify=False)
            r = self.measure(label, self.playbook(OURS_ISSUE, fresh_account=True), rep)
            self.check_new_certs(label, before)
        elif scenario == "ours-noop":
            r = self.measure(label, self.playbook(OURS_ISSUE), rep)
        elif scenario == "ours-noop-tls":
            r = self.measure(label, self.playbook(OURS_ISSUE, *TLS_DECIDE), rep)
        elif scenario == "ours-renew":
            r = self.measure(label, self.playbook(OURS_RENEW), rep)
        elif scenario == "peer-issue":
            self.reset_hosts()
            before = self.served(verify=False)
            r = self.measure(label, self.playbook(PEER_PLAYBOOK, "-e", "peer_state_dir=%s" % self.peer_state), rep)
            self.check_new_certs(label, before)
        elif scenario == "peer-noop":
            r = self.measure(label, self.playbook(PEER_PLAYBOOK, "-e", "peer_state_dir=%s" % self.peer_state), rep)
        elif scenario == "floor-ping":
            r = self.measure(label, self.playbook(PING_PLAYBOOK), rep)
        elif scenario == "floor-acme":
            r = self.measure(label, [sys.executable, ACME_FLOOR, "--rig-base", self.rig_base, "--hosts", str(n)], rep)
        else:
            raise BenchError("unknown scenario %s" % scenario)
        if scenario.endswith("-issue") or scenario == "floor-acme":
            if r["issued"] != n:
                raise BenchError("%s (N=%d): Pebble issued %d certificates, expected %d; see %s"
                                 % (label, n, r["issued"], n, r["log"]))
        elif r["issued"] or r.get("changed"):
            log("note: %s (N=%d) issued %d certificates and reported changed=%s"
                % (label, n, r["issued"], r.get("changed")))
        log("N=%-3d %-13s rep %d: wall %6.2fs  cpu %6.2fs  hosts %5.2fs  ca %4.2fs  other %5.2fs  acme %3d  "
            "ssh logins %3d  pss %5.0f MB"
            % (n, label, rep, r["wall"], r["cpu"], r["cpu_hosts"], r["cpu_ca"], r["cpu_other"],
               r["requests_total"], r["ssh_logins"], r["peak_pss_mb"]))
        self.results.append(r)
        return r

    def profile(self):
        """One extra run each of ours-issue, ours-noop and ours-noop-tls with ansible.posix.profile_tasks
        (not counted in the medians)."""
        out = {}
        env = self.env({"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks,bench_trace",
                        "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "100"})
        for scenario in ("ours-issue", "ours-noop", "ours-noop-tls"):
            if scenario == "ours-issue":
                self.reset_hosts()
            extra = TLS_DECIDE if scenario == "ours-noop-tls" else []
            r = self.measure("profile-" + scenario, self.playbook(OURS_ISSUE, *extra,
                                                                  fresh_account=scenario == "ours-issue"), 1, env=env)
            with open(r["log"]) as f:
                out[scenario] = {"tasks": parse_profile(f.read()), "wall": r["wall"], "trace": r.get("trace"),
                                 "cpu": r["cpu"], "cpu_hosts": r["cpu_hosts"]}
            log("profile %s (N=%d): %s" % (scenario, self.hosts, ", ".join(
                "%s %.2fs" % (t["task"][-40:], t["seconds"]) for t in out[scenario]["tasks"][:4])))
        self.profiles[self.hosts] = out

    def run(self):
        args = self.args
        scenarios = ["ours-issue", "ours-noop", "ours-noop-tls"]
        if os.path.exists(os.path.join(REPO, "playbooks", "renew.yml")):
            scenarios.append("ours-renew")
        if not args.no_peer:
            scenarios += ["peer-issue", "peer-noop"]
        scenarios += ["floor-ping", "floor-acme"]
        if args.scenarios:
            scenarios = [x for x in scenarios if x in args.scenarios]
        # each variant after its base scenario, so that it runs in the same state (an issuance resets the hosts)
        variants = [v for v in (args.variants or []) if v]
        for v in variants:
            if v not in VARIANTS:
                raise BenchError("unknown variant %r (known: %s)" % (v, ", ".join(sorted(VARIANTS))))
        if variants:
            scenarios = [x for base in scenarios for x in [base] + ["%s@%s" % (base, v) for v in variants
                                                                  if not base.startswith(("peer-", "floor-acme"))]]
        # our no-ops need certificates to hold: without a measured issuance first, one unmeasured run issues them
        warmup = "ours-issue" not in scenarios and any(x.startswith("ours-noop") for x in scenarios)
        link = os.path.join(self.collections, "ansible_collections", "certfleet", "tls")
        if not os.path.exists(os.path.join(link, "galaxy.yml")):
            raise BenchError("the collection is not on the collection path (%s); run `make link`" % link)
        for n in args.hosts:
            self.rig_up(n)
            if not args.no_peer and n > args.peer_max_hosts:
                log("N=%d: the peer runs only up to --peer-max-hosts %d: skipped" % (n, args.peer_max_hosts))
            if warmup:
                self.run_scenario("ours-issue", 0)
                self.results.pop()  # not measured
            for rep in range(1, args.repeat + 1):
                for s in scenarios:
                    if s.startswith("peer-") and (rep > args.peer_repeat or n > args.peer_max_hosts):
                        continue
                    self.run_scenario(s, rep)
            if not args.no_profile:
                self.profile()
                if n == max(args.hosts):
                    log("anatomy of one SSH task on host1")
                    self.anatomy = anatomy(self, tree_cpu, OURS_ISSUE, PING_PLAYBOOK)
            self.save()

    def leave_rig_up(self, final_hosts):
        """What the others on this machine expect afterwards: every host reset (the peer's files gone too)
        and the rig up with `final_hosts` hosts, the extra hosts of a larger N stopped."""
        log("leaving the rig up with %d hosts" % final_hosts)
        self.rig("reset-hosts")
        self.hosts = max(self.hosts, max(self.args.hosts))
        for i in range(1, self.hosts + 1):
            shutil.rmtree(os.path.join(self.rig_base, "hosts", "host%d" % i, "ssl", "peer"), ignore_errors=True)
        if max(self.args.hosts) > final_hosts:
            self.rig("down")  # stops the extra hosts too
        self.rig("up", "--hosts", str(final_hosts))

    def save(self):
        data = {"machine": dict(self.machine, ours_extra_vars=self.ours_vars), "args": vars(self.args), "cmdline": self.cmdline, "runs": self.results,
                "profiles": {str(k): v for k, v in self.profiles.items()}, "anatomy": self.anatomy}
        with open(os.path.join(self.out, "results.json"), "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        return data


# ------------------------------------------------------------------------------------------------
# parsing Ansible's output
# ------------------------------------------------------------------------------------------------

RECAP_RE = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)")
# actions that run inside the controller's worker process: no module, no Python start-up, no SSH
CONTROLLER_ONLY = {"debug", "fail", "assert", "set_fact", "meta", "validate_argument_spec", "include_tasks",
                   "import_tasks", "include_role", "import_role", "include_vars", "add_host", "group_by",
                   "set_stats", "pause", "noop"}


def parse_recap(text):
    recap, in_recap = {}, False
    for line in text.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap = True
        elif in_recap:
            m = RECAP_RE.match(line)
            if m:
                recap[m.group(1)] = {"ok": int(m.group(2)), "changed": int(m.group(3)), "failed": int(m.group(5))}
    return {"changed": sum(v["changed"] for v in recap.values()), "recap_hosts": len(recap)} if recap else {}


def trace_summary(path):
    """From bench_trace's JSON: per task, module runs over SSH / on the controller, per-host seconds."""
    try:
        with open(path) as f:
            trace = json.load(f)
    except (OSError, ValueError):
        return {}
    tasks = []
    busy_next = [t.get("busy") for t in trace["tasks"][1:]] + [trace.get("busy_end")]
    for t, busy_end in zip(trace["tasks"], busy_next):
        action = t["action"].split(".")[-1]
        ssh = local = 0
        durations = []
        for h in t["hosts"].values():
            if h.get("status") in (None, "skipped") or h.get("start") is None:
                continue
            durations.append(h["end"] - h["start"])
            runs = h.get("items", 1)
            if action in CONTROLLER_ONLY:
                continue
            if h.get("delegated_to") in ("localhost", "127.0.0.1"):
                local += runs
            else:
                ssh += runs
        ends = [h["end"] for h in t["hosts"].values() if h.get("end") is not None]
        if not ends:
            continue
        tasks.append({"task": t["name"], "action": action, "ssh": ssh, "local": local, "hosts": len(durations),
                      "span": round(max(ends) - t["start"], 3),
                      "cpu": round(busy_end - t["busy"], 2) if busy_end is not None and t.get("busy") is not None else None,
                      "host_median": round(statistics.median(durations), 3) if durations else 0.0,
                      "host_max": round(max(durations), 3) if durations else 0.0})
    return {"trace": tasks, "ssh_executions": sum(t["ssh"] for t in tasks),
            "local_executions": sum(t["local"] for t in tasks)}


PROFILE_RE = re.compile(r"^(.+?) -+ (\d+\.\d+)s$")


def parse_profile(text):
    """The profile_tasks summary (after its '=====' line): [{task, seconds}], slowest first."""
    lines = text.splitlines()
    start = max((i for i, x in enumerate(lines) if x.startswith("=====")), default=len(lines))
    out = []
    for line in lines[start + 1:]:
        m = PROFILE_RE.match(line.strip())
        if m:
            out.append({"task": m.group(1).strip(), "seconds": float(m.group(2))})
    return sorted(out, key=lambda t: -t["seconds"])


# ------------------------------------------------------------------------------------------------
# facts of the machine and the tree, for the report's header
# ------------------------------------------------------------------------------------------------

def machine_facts(playbook_bin):
    def first(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_gb = int(f.readline().split()[1]) / 1024 / 1024
    try:
        import importlib.metadata as md
        versions = {p: md.version(p) for p in ("ansible-core", "ansible", "acme", "cryptography")}
    except Exception:  # noqa: BLE001 - only for the report
        versions = {}
    cc = "?"
    try:
        import ansible_collections
        for d in ansible_collections.__path__:
            manifest = os.path.join(d, "community", "crypto", "MANIFEST.json")
            if os.path.exists(manifest):
                with open(manifest) as f:
                    cc = json.load(f)["collection_info"]["version"]
                break
    except Exception:  # noqa: BLE001 - only for the report
        pass
    try:
        with open("/etc/debian_version") as f:
            debian = f.read().strip()
    except OSError:
        debian = "?"
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "nproc": os.cpu_count(), "cpu": cpu, "mem_gb": round(mem_gb, 1),
            "kernel": platform.release(), "debian": debian, "python": platform.python_version(),
            "versions": versions, "community.crypto": cc,
            "pebble": first(["dpkg-query", "-W", "-f", "${Version}\n", "pebble"]),
            "openssh": first(["dpkg-query", "-W", "-f", "${Version}\n", "openssh-server"]),
            "commit": first(["git", "-C", REPO, "rev-parse", "--short", "HEAD"]),
            "dirty": dirty_files()}


def export_tree(ref, under):
    """(commit, collections path) of `git archive <ref>` unpacked as ansible_collections/certfleet/tls under
    `under`/tree-<commit>: what the benchmark measures with --ref, while others change the working tree."""
    p = subprocess.run(["git", "-C", REPO, "rev-parse", "--verify", ref + "^{commit}"], capture_output=True, text=True)
    if p.returncode != 0:
        raise BenchError("--ref %s: not a commit of %s: %s" % (ref, REPO, p.stderr.strip()))
    commit = p.stdout.strip()
    root = os.path.join(under, "tree-%s" % commit[:12])
    dest = os.path.join(root, "ansible_collections", "certfleet", "tls")
    if not os.path.exists(os.path.join(dest, "galaxy.yml")):
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(dest)
        archive = subprocess.Popen(["git", "-C", REPO, "archive", commit], stdout=subprocess.PIPE)
        tar = subprocess.run(["tar", "-x", "-C", dest], stdin=archive.stdout)
        archive.stdout.close()
        if archive.wait() != 0 or tar.returncode != 0:
            raise BenchError("git archive %s | tar -x -C %s failed" % (commit, dest))
    log("measuring commit %s (git archive of %s) from %s" % (commit[:12], ref, root))
    return commit, root


def dirty_files():
    """Uncommitted changes in what the benchmark measures (the tree is shared with other engineers)."""
    try:
        out = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--", "plugins", "roles", "playbooks",
                              "meta"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line[3:] for line in out.splitlines() if line.strip()]

