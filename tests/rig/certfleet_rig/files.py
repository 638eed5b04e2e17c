"""Small file helpers: atomic writes, directories, templates, PID files and the rig's own log."""

import contextlib
import os
import stat
import time

from .paths import TEMPLATES


def now():
    return time.strftime("%Y-%m-%d %H:%M:%S")


def log(paths, msg):
    """Append one line to <base>/logs/rig.log."""
    os.makedirs(paths.logs, exist_ok=True)
    with open(paths.rig_log, "a") as f:
        f.write("%s %s\n" % (now(), msg))


def write(path, content, mode=0o644, only_if_changed=True):
    """Atomically write text; returns True if the file changed."""
    data = content.encode() if isinstance(content, str) else content
    if only_if_changed:
        try:
            with open(path, "rb") as f:
                if f.read() == data:
                    if stat.S_IMODE(os.stat(path).st_mode) != mode:
                        os.chmod(path, mode)
                    return False
        except OSError:
            pass
    tmp = "%s.tmp.%d" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    return True


def mkdir(path, mode=0o755):
    os.makedirs(path, exist_ok=True)
    os.chmod(path, mode)


def rm(path):
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def template(name, mapping):
    """tests/rig/templates/<name> with every @KEY@ replaced by mapping[KEY]."""
    with open(os.path.join(TEMPLATES, name)) as f:
        text = f.read()
    for k, v in mapping.items():
        text = text.replace("@%s@" % k, v)
    return text


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def write_pid(path, pid):
    write(path, "%d\n" % pid)
