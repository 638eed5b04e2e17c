"""certfleet.tls.issue from an unprivileged control node, as AWX runs it: a non-root user, its own home, temp dirs
and Ansible dirs, and no write anywhere else on the control node.

The run is made unable to write elsewhere rather than inspected afterwards: ansible-playbook runs in a private
mount namespace in which every file system is read-only except the user's home (bind-mounted on itself) and the
kernel's /proc, /sys and /dev (device nodes, ptys, and /dev/shm, where Python's multiprocessing makes its
semaphores). A write anywhere else fails with EROFS, and the run with it. Afterwards no file of the user may exist in
the mounts that stayed writable, outside its home.

What is not the control node, and so not confined: the rig's sshd sessions (root, started outside the namespace)
write the managed hosts' directories and logs under /tmp/certfleet/rig/hosts and /tmp/certfleet/rig/logs, and
Pebble (the CA) its log. On a real fleet those are other machines.

The venv's interpreter may live where only root can reach it (a pyenv under /root), so the user runs the system's
python3 of the same minor version over the venv's site-packages (PYTHONPATH), read-only, the way an EE's runner user
runs the image's Python.
"""

import os
import pwd
import shutil
import site
import stat
import subprocess
import sys

import pytest
import yaml

from rigtools import BASE, Run, served_certificate

USER = "certfleet-ctl"
HOME = "/home/%s" % USER
COLLECTIONS = os.environ.get("CERTFLEET_COLLECTIONS", "/tmp/certfleet/collections")
# Mounts that may stay writable in the namespace (kernel pseudo file systems and devices), besides the home
KERNEL_MOUNTS = ("/proc", "/sys", "/dev")
SYSTEM_PYTHON = "/usr/bin/python3"


def ensure_user():
    try:
        entry = pwd.getpwnam(USER)
    except KeyError:
        if os.geteuid() != 0:
            pytest.fail("the unprivileged-control-node test needs root to create the user %s (useradd)" % USER)
        subprocess.run(["useradd", "--create-home", "--home-dir", HOME, "--shell", "/bin/sh", USER], check=True,
                       capture_output=True, timeout=60)
        entry = pwd.getpwnam(USER)
    assert entry.pw_uid != 0 and entry.pw_dir == HOME
    return entry


def give(path, entry, mode):
    os.chown(path, entry.pw_uid, entry.pw_gid)
    os.chmod(path, mode)


def copy_private(source, target, entry):
    """A root-only rig file the user's run needs (SSH key, account key): its own copy, mode 0600."""
    shutil.copyfile(source, target)
    give(target, entry, 0o600)


def prepare_home(entry):
    """The user's own dirs and copies of what the run reads that root alone may read; returns the env."""
    for name in os.listdir(HOME):  # a clean home at every run (ControlPersist sockets of an earlier run included)
        path = os.path.join(HOME, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    dirs = {name: os.path.join(HOME, name) for name in ("tmp", ".ansible", ".ansible/tmp", ".ssh", "cp")}
    for path in dirs.values():
        os.makedirs(path)
        give(path, entry, 0o700)
    copy_private(os.path.join(BASE, "ssh", "id_ed25519"), os.path.join(HOME, ".ssh", "id_ed25519"), entry)
    copy_private(os.path.join(BASE, "ssh", "known_hosts"), os.path.join(HOME, ".ssh", "known_hosts"), entry)
    copy_private(os.path.join(BASE, "account.key"), os.path.join(HOME, "account.key"), entry)

    with open(os.path.join(BASE, "inventory.yml")) as handle:
        inventory = yaml.safe_load(handle)
    rig_vars = inventory["all"]["vars"]
    rig_vars.update(
        ansible_ssh_private_key_file=os.path.join(HOME, ".ssh", "id_ed25519"),
        ansible_ssh_common_args="-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes"
                                % os.path.join(HOME, ".ssh", "known_hosts"),
        certificate_account_key_path=os.path.join(HOME, "account.key"))
    for key in ("certificate_acme_ca_bundle", "certificate_verify_ca_bundle"):  # public, but read as the user
        assert os.stat(rig_vars[key]).st_mode & stat.S_IROTH, "%s is not world-readable" % rig_vars[key]
    with open(os.path.join(HOME, "inventory.yml"), "w") as handle:
        yaml.safe_dump(inventory, handle)
    with open(os.path.join(HOME, "ansible.cfg"), "w") as handle:
        handle.write("[defaults]\ninventory = %s/inventory.yml\nforks = 20\ninterpreter_python = /usr/bin/python3\n"
                     "gathering = explicit\nretry_files_enabled = False\n\n[ssh_connection]\npipelining = True\n"
                     "control_path_dir = %s\n" % (HOME, dirs["cp"]))
    for name in ("inventory.yml", "ansible.cfg"):
        give(os.path.join(HOME, name), entry, 0o600)
    return {"HOME": HOME, "USER": USER, "LOGNAME": USER, "LANG": "C.UTF-8", "PATH": "/usr/bin:/bin",
            "PYTHONPATH": site.getsitepackages()[0],
            "TMPDIR": dirs["tmp"], "ANSIBLE_HOME": dirs[".ansible"], "ANSIBLE_LOCAL_TEMP": dirs[".ansible/tmp"],
            "ANSIBLE_CONFIG": os.path.join(HOME, "ansible.cfg"), "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS,
            "ANSIBLE_SSH_CONTROL_PATH_DIR": dirs["cp"], "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"}


CONFINE = r"""
set -eu
home="$1"; shift
# the user's home stays writable: a mount of its own, made before everything else turns read-only
mount --bind "$home" "$home"
awk '{print $2}' /proc/self/mounts | sort -u | while read -r point; do
  case "$point" in
    "$home"|/proc|/proc/*|/sys|/sys/*|/dev|/dev/*) ;;
    *) mount -o remount,bind,ro "$point" ;;
  esac
done
if touch /tmp/.certfleet-confine-probe 2>/dev/null; then
  rm -f /tmp/.certfleet-confine-probe; echo "CONFINE-FAILED: /tmp is writable"; exit 97
fi
echo "WRITABLE-MOUNTS: $(awk '$4 ~ /^rw/ {printf "%s ", $2}' /proc/self/mounts)"
exec "$@"
"""


def close_masters(entry):
    """Close the user's ControlPersist masters (they would keep sshd sessions of the rig open for a minute)."""
    for name in os.listdir(os.path.join(HOME, "cp")):
        subprocess.run(["setpriv", "--reuid=%d" % entry.pw_uid, "--regid=%d" % entry.pw_gid, "--init-groups", "--",
                        "ssh", "-O", "exit", "-o", "ControlPath=%s" % os.path.join(HOME, "cp", name), "x"],
                       capture_output=True, timeout=30, check=False)


def test_issue_as_an_unprivileged_user_writes_only_its_own_dirs(fresh_rig):
    entry = ensure_user()
    env = prepare_home(entry)
    version = subprocess.run([SYSTEM_PYTHON, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True,
                             text=True, check=True, timeout=30).stdout.strip()
    assert version == str(sys.version_info[:2]), "%s is Python %s, the venv %s" % (SYSTEM_PYTHON, version,
                                                                                   sys.version_info[:2])
    playbook = [SYSTEM_PYTHON, os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "certfleet.tls.issue"]
    as_user = ["setpriv", "--reuid=%d" % entry.pw_uid, "--regid=%d" % entry.pw_gid, "--init-groups", "--",
               "env", "-i"] + ["%s=%s" % item for item in sorted(env.items())] + playbook
    command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", CONFINE, "confine", HOME] + as_user
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False, cwd=HOME)
        run = Run(proc)
        assert "CONFINE-FAILED" not in run.out and "WRITABLE-MOUNTS:" in run.out, run
        writable = run.out.split("WRITABLE-MOUNTS:", 1)[1].split("\n", 1)[0].split()
        outside = [point for point in writable
                   if point != HOME and not any(point == k or point.startswith(k + "/") for k in KERNEL_MOUNTS)]
        assert outside == [], "mounts left writable besides the home and the kernel's: %s" % outside
        assert run.rc == 0, run
        assert set(run.recap) == set(fresh_rig["host_names"]), run
        assert all(r["failed"] == 0 and r["changed"] >= 2 for r in run.recap.values()), run

        for index, name in enumerate(fresh_rig["host_names"], start=1):
            served_certificate("127.0.1.%d" % index, "%s.test" % name, cafile=fresh_rig["pebble_root"])
        # It used its own dirs: ControlPersist sockets in ~/cp, Ansible's local temp under ~/.ansible/tmp.
        sockets = [n for n in os.listdir(os.path.join(HOME, "cp"))
                   if stat.S_ISSOCK(os.lstat(os.path.join(HOME, "cp", n)).st_mode)]
        assert sockets, "no ControlPersist socket in %s/cp: ssh used another control path" % HOME
        assert os.path.isdir(os.path.join(HOME, ".ansible", "tmp"))

        # No file of the user in what stayed writable (devices, /dev/shm, ptys), outside its home.
        for point in writable:
            if point == HOME or point.startswith(("/proc", "/sys")):
                continue
            found = subprocess.run(["find", point, "-xdev", "-user", str(entry.pw_uid)], capture_output=True,
                                   text=True, timeout=120, check=False).stdout.split()
            found = [path for path in found if not os.path.realpath(path).startswith(HOME + "/")]
            assert found == [], "the user's run left %s" % found
    finally:
        close_masters(entry)
        for copy in (os.path.join(HOME, "account.key"), os.path.join(HOME, ".ssh", "id_ed25519")):
            if os.path.exists(copy):  # the rig's keys do not outlive the test in another user's home
                os.unlink(copy)
