"""A hostile policy for tests: it tries to read a file (/etc/passwd), list
the root directory, read the environment and open a socket, and reports the
outcome of each attempt twice: as a log line (``warn``) and as a warning
violation, so a suite can assert on it. The ``attempt`` setting picks one
attempt (``file``, ``listdir``, ``env``, ``socket``) or ``all`` (default);
``crash`` raises an exception the policy does not handle.

Each line is logged *before* the attempt too, so an attempt that traps
(``--stub-wasi`` builds, where WASI calls are trapping stubs) is still
visible in the policy log next to the fault.
"""

import os

from plumbline_policy import WARNING, Validator, Violation, export, log

ATTEMPTS = ("file", "listdir", "env", "socket")


def attempt_file():
    with open("/etc/passwd") as f:
        return "read %d bytes" % len(f.read())


def attempt_listdir():
    return "listed %r" % os.listdir("/")


def attempt_env():
    return "%d variables %r" % (len(os.environ), dict(os.environ))


def attempt_socket():
    import socket

    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.connect(("127.0.0.1", 80))
    return "connected"


def attempt_crash():
    raise ValueError("probe crashed on purpose")


class SandboxProbe(Validator):
    name = "sandbox-probe"
    description = "Tries to read a file, the environment and the network; reports what happened."

    def check_settings(self, settings):
        pass

    def validate(self, objects, ctx):
        chosen = ctx.settings.get("attempt", "all") if isinstance(ctx.settings, dict) else "all"
        found = []
        if chosen == "crash":
            attempt_crash()
        for name in ATTEMPTS:
            if chosen not in ("all", name):
                continue
            log.warn("probe %s: trying" % name)
            try:
                outcome = "got " + globals()["attempt_" + name]()
            except Exception as e:
                outcome = "refused: %s: %s" % (type(e).__name__, e)
            log.warn("probe %s: %s" % (name, outcome))
            found.append(Violation.about_set("%s %s" % (name, outcome), WARNING))
        return found


export(SandboxProbe, globals())
