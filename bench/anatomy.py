"""Anatomy of one SSH task on the rig: what a host pays for each module run, piece by piece.

Run by runner.Bench.profile() (not in --quick), on host1 of the rig that is up. It measures:

  shell     the login shell sshd starts for every exec: `bash -c true` as sshd runs it (SSH_CLIENT set, so
            Debian's bash sources ~/.bashrc) against `bash --norc -c true`; root's ~/.bashrc on the bench
            machine runs `pyenv init`, which real servers do not
  python    `/usr/bin/python3 -c pass`: the interpreter's start
  ssh       a cold connection (key exchange, login, one exec) and warm execs over its ControlPersist
            master, wall per exec and the CPU of host1's sshd tree
  payloads  the AnsiballZ payload Ansible pipes to the host's python3 for every module run on host1 (captured
            through an interpreter wrapper on host1 only, so their count is the number of Python execs per host),
            its size and how much of it is ansible-core's module_utils, and for the read-only ones (ping, the
            decide step's certificate_state with nothing due) the cost of running it again straight on the host,
            without SSH, and the part of that spent importing ansible.module_utils.basic (python3 -X importtime)

Each figure is the median of K runs. Returns a dict that report.py renders.
"""

import base64
import io
import os
import re
import resource
import shutil
import statistics
import subprocess
import time
import zipfile

ZIP_RE = re.compile(rb"'([A-Za-z0-9+/=]{4000,})'")  # the base64 zip literal of the AnsiballZ wrapper
MODULE_RE = re.compile(rb"ansible_collections\.certfleet\.tls\.plugins\.modules\.(\w+)|ansible\.modules\.(\w+)")
WRAPPER = """#!/bin/sh
# bench/anatomy.py: keep the module payload that Ansible pipes to python3 on this host, then run it
f=$(mktemp {dir}/payload.XXXXXX)
cat > "$f"
exec /usr/bin/python3 "$@" < "$f"
"""


def _timed(argv, k, env=None, stdin_path=None):
    """Median wall seconds and mean CPU seconds (user+system of the child) of k runs of argv."""
    walls, cpu0 = [], resource.getrusage(resource.RUSAGE_CHILDREN)
    for _ in range(k):
        stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        try:
            t0 = time.monotonic()
            p = subprocess.run(argv, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            walls.append(time.monotonic() - t0)
        finally:
            if stdin_path:
                stdin.close()
        if p.returncode != 0:
            return {"error": "%s exited %d" % (" ".join(argv[:3]), p.returncode)}
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return {"wall": round(statistics.median(walls), 4), "cpu": round(cpu / k, 4), "k": k}


def shell_and_python(k):
    base = {key: v for key, v in os.environ.items() if key not in ("SHLVL", "SSH_CLIENT", "SSH2_CLIENT",
                                                                   "SSH_CONNECTION", "BASH_ENV")}
    as_sshd = dict(base, SSH_CLIENT="127.0.0.1 40000 22")  # what makes Debian's bash source ~/.bashrc
    return {
        "bash_rc": _timed(["bash", "-c", "true"], k, env=as_sshd),
        "bash_norc": _timed(["bash", "--norc", "--noprofile", "-c", "true"], k, env=base),
        "python": _timed(["/usr/bin/python3", "-c", "pass"], k, env=base),
    }


def ssh_costs(bench, tree_cpu, k):
    """Cold connection + k warm execs to host1 over a private ControlPersist master; host1's sshd CPU."""
    rig = bench.rig_base
    cp = os.path.join(bench.out, "anatomy-cp")
    os.makedirs(cp, exist_ok=True)
    sock = os.path.join(cp, "host1")
    ssh = ["ssh", "-o", "ControlMaster=auto", "-o", "ControlPersist=30", "-o", "ControlPath=%s" % sock,
           "-o", "UserKnownHostsFile=%s" % os.path.join(rig, "ssh", "known_hosts"), "-o", "StrictHostKeyChecking=yes",
           "-o", "BatchMode=yes", "-i", os.path.join(rig, "ssh", "id_ed25519"), "-l", "root", "127.0.1.1"]
    sshd = bench.rig_pids["hosts"][:1]
    cpu0 = tree_cpu(sshd)
    cold = _timed(ssh + ["true"], 1)
    warm = _timed(ssh + ["true"], k)
    warm_py = _timed(ssh + ["/usr/bin/python3 -c pass"], k)
    subprocess.run(["ssh", "-O", "exit", "-o", "ControlPath=%s" % sock, "x"], stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # sshd reaps the connection, its children's CPU lands in the listener's cutime
    host_cpu = tree_cpu(sshd) - cpu0
    shutil.rmtree(cp, ignore_errors=True)
    return {"cold": cold, "warm_true": warm, "warm_python": warm_py, "execs": 1 + 2 * k,
            "host_cpu_per_exec": round(host_cpu / (1 + 2 * k), 4)}


def zip_contents(data):
    """{files, kb, ours_kb}: the module zip inside an AnsiballZ payload (uncompressed sizes)."""
    m = ZIP_RE.search(data)
    if not m:
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(base64.b64decode(m.group(1)))) as z:
            infos = z.infolist()
    except (ValueError, zipfile.BadZipFile):
        return None
    return {"files": len(infos), "kb": round(sum(i.file_size for i in infos) / 1024),
            "ours_kb": round(sum(i.file_size for i in infos if "certfleet" in i.filename) / 1024)}


def import_time(path, module):
    """Seconds python3 -X importtime reports for `module` (cumulative) while running the payload at `path`."""
    with open(path, "rb") as stdin:
        p = subprocess.run(["/usr/bin/python3", "-X", "importtime"], stdin=stdin, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
    for line in p.stderr.decode("utf-8", "replace").splitlines():
        fields = line.split("|")
        if len(fields) == 3 and fields[2].strip() == module:
            return round(int(fields[1]) / 1e6, 3)
    return None


def payloads(bench, k, playbooks):
    """Capture the payloads of `playbooks` [(label, argv-suffix, prepare)] on host1; size and replay cost."""
    pdir = os.path.join(bench.out, "anatomy-payloads")
    shutil.rmtree(pdir, ignore_errors=True)
    os.makedirs(pdir)
    wrapper = os.path.join(pdir, "pywrap")
    with open(wrapper, "w") as f:
        f.write(WRAPPER.format(dir=pdir))
    os.chmod(wrapper, 0o755)
    inv = os.path.join(pdir, "host1-interpreter.yml")
    with open(inv, "w") as f:
        f.write("all:\n  hosts:\n    host1:\n      ansible_python_interpreter: %s\n" % wrapper)
    out = []
    for label, argv, prepare in playbooks:
        if prepare:
            prepare()
        if callable(argv):  # an issuance: with a new account, registered now (see runner.Bench.fresh_account)
            argv = argv()
        before = set(os.listdir(pdir))
        cmd = [bench.playbook_bin] + argv + ["-i", os.path.join(bench.rig_base, "inventory.yml"), "-i", inv,
                                            "--limit", "host1"]
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=bench.env(),
                           cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        if p.returncode != 0:
            out.append({"run": label, "error": "exit %d: %s" % (p.returncode, p.stdout[-400:])})
            continue
        for name in sorted(set(os.listdir(pdir)) - before, key=lambda n: os.path.getmtime(os.path.join(pdir, n))):
            path = os.path.join(pdir, name)
            with open(path, "rb") as f:
                data = f.read()
            m = MODULE_RE.search(data)
            module = (m.group(1) or m.group(2)).decode() if m else "?"
            entry = {"run": label, "module": module, "bytes": len(data), "zip": zip_contents(data)}
            # replay only what reads: ping, and the decide step's host module in a run with nothing due
            if module == "ping" or (module == "certificate_state" and label.endswith("nothing due")):
                entry["replay"] = _timed(["/usr/bin/python3"], k, stdin_path=path)
                entry["import_basic"] = import_time(path, "ansible.module_utils.basic")
            out.append(entry)
    shutil.rmtree(pdir, ignore_errors=True)
    return out


def anatomy(bench, tree_cpu, ours_issue, ping_playbook, k=10):
    result = {"k": k}
    result.update(shell_and_python(k))
    result["ssh"] = ssh_costs(bench, tree_cpu, k)
    result["payloads"] = payloads(bench, max(3, k // 2), [
        ("ping floor", bench.playbook(ping_playbook)[1:], None),
        ("ours, all due", lambda: bench.playbook(ours_issue, fresh_account=True)[1:], bench.reset_hosts),
        ("ours, nothing due", bench.playbook(ours_issue)[1:], None),
    ])
    return result
