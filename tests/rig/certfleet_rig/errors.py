"""The rig's one exception, and the helper that builds its message from the log files to read."""


class RigError(RuntimeError):
    """A rig operation failed; the message says which log file to read."""


def tail(path, lines=15):
    """The last `lines` lines of a log file, indented for an error message."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 8192))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return "(no log file)"
    return "\n".join("    | " + line for line in data.splitlines()[-lines:])


def fail(what, *logs):
    """Raise RigError: `what` went wrong, see these logs (their last lines are in the message)."""
    logs = [lg for lg in logs if lg]
    msg = "%s; see %s" % (what, " and ".join(logs))
    for lg in logs:
        msg += "\n  last lines of %s:\n%s" % (lg, tail(lg))
    raise RigError(msg)
