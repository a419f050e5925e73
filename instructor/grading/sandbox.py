"""Run one submission's command in a bubblewrap sandbox, with limits; one code per breach.

What the command sees (everything else of the machine is absent, not just unreadable):

- read-only: ``/usr`` (with the ``/bin``, ``/lib*`` links), a few ``/etc`` files, the Python
  installation the grading venv's python resolves to (under ``/root/.pyenv`` here), the grading
  venv itself (its editable-install ``.pth`` files masked: they point into the checkout), and the
  extra read-only folders the caller names (the unpacked course wheel, the grader's inputs);
- writable: the submission's own working folder (``/submission``), a folder for its results,
  a private ``/tmp`` and ``HOME`` (tmpfs of a fixed size);
- no network (own network namespace with only loopback), own PID/IPC/UTS namespaces: it cannot
  see, signal or ptrace the grader or another submission.

Limits and the code each breach yields (:data:`CODES`):

- wall time: the grader kills the whole sandbox -> ``timeout``;
- output: bytes on the command's stdout+stderr are counted as they arrive -> ``output``;
- processes: ``RLIMIT_NPROC`` of a dedicated unprivileged uid (root ignores RLIMIT_NPROC, so the
  command runs as ``uid`` via ``setpriv``); when the uid's task count sits at the limit the grader
  kills the sandbox -> ``processes`` (a fork that failed with EAGAIN, as reported by the runner,
  gives the same code);
- memory: ``RLIMIT_DATA`` per process (TensorFlow reserves gigabytes of address space it never
  touches, so ``RLIMIT_AS`` would stop it starting; RLIMIT_DATA counts private writable memory,
  what an allocation really takes) -> ``memory`` when the runner reports a ``MemoryError`` or the
  output shows an allocation failure; and all its processes together, tmpfs files included, in a
  memory cgroup of its own (v1 or v2, where the machine lets the grader make one) -> ``memory``
  when the kernel's OOM killer stopped one of them;
- disk: ``RLIMIT_FSIZE`` bounds any one file the submission writes; the grader sums what it
  wrote into its folder and its results folder every second (the data cache's hard links left
  out) and stops it past ``Limits.disk``; ``/tmp``, ``HOME`` and ``/dev/shm`` are tmpfs of a fixed
  size (``Limits.scratch``: held in memory, so capped too). A full tmpfs or a too-large file is an
  error in the cell that wrote it (the runner reports ENOSPC/EFBIG), past the folder's limit the
  run stops -> ``disk``; core dumps are off.

Why bubblewrap and not a hand-written namespace setup: it is the well-kept tool for exactly this
(Flatpak's sandbox). It runs as root here (privileged mode, no user namespace) because the
Python installation lives under ``/root`` (mode 0700), which an unprivileged bwrap could not
bind; the capabilities are then dropped by ``setpriv`` together with the switch to ``uid``.
``--unshare-all`` is not used for that reason: it would also create a user namespace in which
only uid 0 exists, so the switch to ``uid`` would fail; every other namespace it creates is
listed explicitly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

#: The fixed codes of a breach, with the sentence that explains each in the grades table.
CODES = {
    "timeout": "The submission ran longer than the time limit and was stopped.",
    "memory": "The submission tried to use more memory than the limit allows.",
    "processes": "The submission started more processes or threads than the limit allows.",
    "output": "The submission printed more output than the limit allows and was stopped.",
    "kernel-died": "The notebook's kernel or its runner died before grading finished "
    "(a crash, or the submission killed it).",
    "disk": "The submission wrote more files than the limit allows (into its folder, /tmp or "
    "its home folder).",
}

INSTALL_HINT = (
    "Install bubblewrap (`apt-get install bubblewrap`) to grade untrusted "
    "submissions, or pass --trusted (make grade TRUSTED=1) only if every submission "
    "comes from a trusted author."
)

# The /etc files a Python/TensorFlow process reads; nothing else of /etc is visible.
ETC_FILES = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "nsswitch.conf",
    "hosts",
    "mime.types",
    "ssl",
    "fonts",
    "alternatives",
)

GiB, MiB = 2**30, 2**20


@dataclasses.dataclass(frozen=True)
class Limits:
    """Limits of one submission's run.

    Attributes
    ----------
    seconds : wall time of the whole run.
    memory : bytes of private writable memory per process (RLIMIT_DATA).
    total_memory : bytes of memory of all its processes together, its tmpfs files included (a
        memory cgroup, where this machine lets the grader make one: see :func:`memory_cgroup`).
    processes : processes + threads of the sandbox's uid (RLIMIT_NPROC).
    output : bytes of stdout + stderr.
    file_size : bytes of any one file written (RLIMIT_FSIZE).
    disk : bytes of the files it writes into its folder, all together (checked every second;
        the prepared data cache's files do not count).
    scratch : size of its private ``/tmp`` and of its HOME, each a tmpfs (held in memory, so it
        is capped too); ``/dev/shm`` gets a quarter.
    """

    seconds: float = 3600.0
    memory: int = 8 * GiB  # 02's ResNet50 and 04's VGG16 need more than 4 GiB of RLIMIT_DATA
    total_memory: int = 8 * GiB
    processes: int = 512
    output: int = 20 * MiB
    file_size: int = 2 * GiB
    disk: int = 8 * GiB
    scratch: int = 1 * GiB


@dataclasses.dataclass
class Outcome:
    """What a sandboxed run did: ``code`` is ``""`` or a key of :data:`CODES`."""

    code: str
    returncode: int | None
    seconds: float
    output_bytes: int
    head: bytes
    tail: bytes

    @property
    def explanation(self) -> str:
        return CODES.get(self.code, "")

    def text(self) -> str:
        """The start and end of the output, decoded (for error messages and logs)."""
        join = b"" if self.output_bytes <= len(self.head) + len(self.tail) else b"\n[...]\n"
        return (self.head + join + self.tail).decode("utf-8", "replace")


@dataclasses.dataclass(frozen=True)
class Mounts:
    """Where things come from on the host, and where they appear in the sandbox.

    Attributes
    ----------
    venv : the grading venv (its python runs the command); bound at the same path.
    work : the submission's working folder; ``/submission`` inside, writable.
    out : a folder for results; ``/grading/out`` inside, writable.
    read_only : ``{path inside: path on the host}``, e.g. the unpacked course wheel.
    data_cache : a prepared data cache, shown as ``/submission/data/`` (the folder
        ``COURSE_DATA_DIR`` points at) by :func:`link_data_cache`: folders the submission's own,
        files hard links it can read but not change.
    """

    venv: Path
    work: Path
    out: Path
    read_only: dict[str, Path] = dataclasses.field(default_factory=dict)
    data_cache: Path | None = None


def python_home(venv: Path) -> Path:
    """The Python installation a venv's python resolves to (``home`` in ``pyvenv.cfg``)."""
    config = Path(venv) / "pyvenv.cfg"
    for line in config.read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "home":
            return Path(value.strip()).resolve().parent
    raise ValueError(
        f"{config} has no `home =` line: {venv} is not a venv made by `python -m "
        "venv`; point the grader at one (--venv)."
    )


def _editable_pth_files(venv: Path) -> list[Path]:
    return sorted(Path(venv).glob("lib/python*/site-packages/__editable__*.pth"))


def sandbox_problem() -> str | None:
    """Why the sandbox cannot run here (one sentence + what to do), or None when it works."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return f"bubblewrap (bwrap) is not installed. {INSTALL_HINT}"
    for tool in ("setpriv", "prlimit"):
        if shutil.which(tool) is None:
            return (
                f"{tool} (util-linux) is not installed; `apt-get install util-linux`, or "
                f"pass --trusted only for trusted submissions."
            )
    probe = [
        bwrap,
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-uts",
        "--die-with-parent",
        "--ro-bind",
        "/usr",
        "/usr",
        "--symlink",
        "usr/bin",
        "/bin",
        "--symlink",
        "usr/lib",
        "/lib",
        "--symlink",
        "usr/lib64",
        "/lib64",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--cap-add",
        "CAP_SETUID",
        "--cap-add",
        "CAP_SETGID",
        "--",
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "true",
    ]
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bubblewrap does not start ({error}). {INSTALL_HINT}"
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        return (
            f"bubblewrap cannot create its sandbox here ({reason}); it needs root or "
            f"unprivileged user namespaces. {INSTALL_HINT}"
        )
    return None


def bwrap_command(
    argv: list[str], mounts: Mounts, env: dict[str, str], uid: int, limits: Limits, meta: Path
) -> list[str]:
    """The full command line: bwrap -> prlimit -> setpriv -> ``argv``.

    ``meta`` is a grader-owned folder for the synthetic ``/etc/passwd`` and ``/etc/group``.
    """
    venv = Path(mounts.venv).absolute()
    home = python_home(venv)
    (meta / "passwd").write_text(
        f"root:x:0:0::/root:/bin/sh\nstudent:x:{uid}:{uid}::/home/student:/bin/sh\n"
    )
    (meta / "group").write_text(f"root:x:0:\nstudent:x:{uid}:\n")
    cmd = [
        "bwrap",
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        "--cap-add",
        "CAP_SETUID",
        "--cap-add",
        "CAP_SETGID",
        "--ro-bind",
        "/usr",
        "/usr",
    ]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        target = Path("/") / name
        if target.is_symlink():
            cmd += ["--symlink", os.readlink(target), str(target)]
        elif target.is_dir():
            cmd += ["--ro-bind", str(target), str(target)]
    for name in ETC_FILES:
        if (Path("/etc") / name).exists():
            cmd += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    cmd += [
        "--ro-bind",
        str(meta / "passwd"),
        "/etc/passwd",
        "--ro-bind",
        str(meta / "group"),
        "/etc/group",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--perms",
        "1777",
        "--size",
        str(limits.scratch // 4),
        "--tmpfs",
        "/dev/shm",  # POSIX semaphores: multiprocessing's locks (a data loader's pool) need it
        "--perms",
        "1777",
        "--size",
        str(limits.scratch),
        "--tmpfs",
        "/tmp",
        "--perms",
        "0755",
        "--dir",
        "/home",
        "--perms",
        "0777",
        "--size",
        str(limits.scratch),
        "--tmpfs",
        "/home/student",
    ]
    # Parents of the bound paths are made 0755 (bwrap's default would hide them from the uid).
    parents = set()
    for path in (home, venv, Path("/grading/out"), *map(Path, mounts.read_only)):
        parents.update(p for p in path.parents if p != Path("/"))
    for parent in sorted(parents, key=lambda p: len(p.parts)):
        cmd += ["--perms", "0755", "--dir", str(parent)]
    cmd += ["--ro-bind", str(home), str(home), "--ro-bind", str(venv), str(venv)]
    for pth in _editable_pth_files(venv):  # an editable install would import the checkout
        cmd += ["--ro-bind", "/dev/null", str(pth)]
    cmd += ["--bind", str(mounts.work), "/submission", "--bind", str(mounts.out), "/grading/out"]
    for inside, outside in mounts.read_only.items():
        cmd += ["--ro-bind", str(outside), inside]
    if mounts.data_cache is not None:
        binds = link_data_cache(Path(mounts.data_cache), Path(mounts.work) / "data", uid)
        for outside, target in binds:
            inside = Path("/submission") / target.relative_to(mounts.work)
            cmd += ["--ro-bind", str(outside), str(inside)]
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    cmd += [
        "--chdir",
        "/submission",
        "--",
        "prlimit",
        f"--data={limits.memory}",
        f"--nproc={limits.processes}",
        f"--fsize={limits.file_size}",
        "--core=0",
        "--",
        "setpriv",
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
        *argv,
    ]
    return cmd


#: A folder of the data cache with at least this many files and no dot-name anywhere below it
#: (no lock, marker or decode cache: only the data set's own files) is shown read-only in place
#: instead of linked file by file: 01's Tiny ImageNet tree is 34k files, whose links cost ~2 s of
#: every grading to make and remove.
BIND_FILES = 1000


def data_trees(cache: Path) -> list[Path]:
    """The largest pure data folders of ``cache`` (see :data:`BIND_FILES`), below the data sets'
    own folders (those take the loaders' lock files)."""
    files, pure = {}, {}
    for folder, dirs, names in os.walk(cache, topdown=False):
        here = Path(folder)
        files[here] = len(names) + sum(files[here / d] for d in dirs)
        pure[here] = not any(n.startswith(".") for n in [*names, *dirs]) and all(
            pure[here / d] for d in dirs
        )
    candidates = {
        folder
        for folder in files
        if len(folder.relative_to(cache).parts) >= 2
        and pure[folder]
        and files[folder] >= BIND_FILES
    }
    return sorted(folder for folder in candidates if folder.parent not in candidates)


def link_data_cache(cache: Path, data: Path, uid: int) -> list[tuple[Path, Path]]:
    """The prepared data cache as the submission's own ``data/`` folder: its folders new and the
    submission's (loaders take lock files and write where they like), its files hard links to the
    cache's (owned by root, mode 0644: readable, never writable by ``uid``; a copy when the cache
    is on another file system). Deleting or renaming in it changes only the submission's copy.

    Returns the read-only binds ``(cache folder, folder under data)`` of the large pure data
    folders (:func:`data_trees`): an empty folder is made for each, for bwrap to bind over.
    """
    data.mkdir(exist_ok=True)
    trees = data_trees(cache)
    binds = []
    for folder, dirs, names in os.walk(cache):
        here = Path(folder)
        relative = here.relative_to(cache)
        top = relative.parts[0] if relative.parts else ""
        # The submission's own outputs stay its own; lock files and stamps are the preparer's.
        if top == "outputs" or top.startswith(".prepared-"):
            dirs[:] = []
            continue
        target = data / relative
        target.mkdir(exist_ok=True)
        os.chown(target, uid, uid)
        if here in trees:
            binds.append((here, target))
            dirs[:] = []
            continue
        for name in names:
            if name == ".lock" or (not relative.parts and name.startswith(".prepared-")):
                continue
            try:
                os.link(here / name, target / name)
            except OSError:  # another file system: a copy, still read-only to the uid
                shutil.copy2(here / name, target / name)
    return binds


def trusted_command(argv: list[str], limits: Limits) -> list[str]:
    """The command without a sandbox (``--trusted``): only the rlimits apply (not NPROC: root)."""
    return [
        "prlimit",
        f"--data={limits.memory}",
        f"--fsize={limits.file_size}",
        "--core=0",
        "--",
        *argv,
    ]


# ---- a memory cgroup per run ----
# Hand-written: the cgroup files are the kernel's interface and no well-kept Python library
# wraps them (systemd-run --scope would, but needs a running systemd, absent in containers).
CGROUP_ROOT = Path("/sys/fs/cgroup")


def own_memory_cgroup() -> tuple[Path, int] | None:
    """This process's memory cgroup folder and the cgroup version (1 or 2), or None."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        number, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(",") and (CGROUP_ROOT / "memory").is_dir():
            return CGROUP_ROOT / "memory" / path.lstrip("/"), 1
    if (CGROUP_ROOT / "cgroup.controllers").is_file():
        for line in lines:
            if line.startswith("0::"):
                return CGROUP_ROOT / line[3:].lstrip("/"), 2
    return None


def memory_cgroup(name: str, limit: int) -> Path | None:
    """A new memory cgroup ``name`` capped at ``limit`` bytes, under this process's own; None
    where this machine does not let the grader make one (no cgroup mounted, read-only, no memory
    controller delegated): then only the per-process ``RLIMIT_DATA`` holds."""
    found = own_memory_cgroup()
    if found is None:
        return None
    parent, version = found
    group = parent / name
    try:
        group.mkdir()
    except OSError:
        return None
    try:
        if version == 1:
            (group / "memory.limit_in_bytes").write_text(str(limit))
            swap = group / "memory.memsw.limit_in_bytes"  # memory + swap: no escape into swap
            if swap.exists():
                swap.write_text(str(limit))
        else:
            (group / "memory.max").write_text(str(limit))
            if (group / "memory.swap.max").exists():
                (group / "memory.swap.max").write_text("0")
    except OSError:
        remove_cgroup(group)
        return None
    return group


def oom_kills(group: Path) -> int:
    """How many processes of ``group`` the kernel killed for want of memory."""
    for name, key in (("memory.oom_control", "oom_kill"), ("memory.events", "oom_kill")):
        try:
            text = (group / name).read_text()
        except OSError:
            continue
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == key:
                return int(parts[1])
    return 0


def remove_cgroup(group: Path) -> None:
    """Remove ``group`` once its processes are gone (a few tries: exits take a moment)."""
    for _ in range(40):
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.05)


def files_under(folder: Path):
    """Every entry under ``folder`` that is not a folder (``os.scandir``: its file type and inode
    come with the listing, so a file already known costs no ``stat``)."""
    stack = [folder]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    else:
                        yield entry
        except OSError:  # removed while we looked: not there any more
            continue


def inodes_under(folder: Path) -> set[int]:
    """The inodes of every file under ``folder`` (one file system: a plain folder)."""
    return {entry.inode() for entry in files_under(folder)}


def bytes_written(folder: Path, skip: set[int]) -> int:
    """Bytes on disk of the files under ``folder``, each inode once, those in ``skip`` left out
    (the data cache's hard links: a submission's own hard links count once, not zero times)."""
    seen, total = set(skip), 0
    for entry in files_under(folder):
        inode = entry.inode()
        if inode in seen:
            continue
        seen.add(inode)
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        total += max(info.st_size, info.st_blocks * 512)  # sparse files count whole
    return total


def tasks_of_uid(uid: int) -> list[int]:
    """The pids on this machine whose real uid is ``uid``, and their thread counts summed."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status") as file:
                status = file.read()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("Uid", "").split()[:1] == [str(uid)]:
            found.append((int(entry.name), int(fields.get("Threads", "1"))))
    return found


def kill_uid(uid: int) -> None:
    """SIGKILL every process of ``uid`` (dedicated to one sandbox: nothing else runs as it)."""
    for _ in range(5):
        pids = [pid for pid, _ in tasks_of_uid(uid)]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)


def run(
    argv: list[str],
    mounts: Mounts,
    *,
    env: dict[str, str],
    uid: int = 61000,
    limits: Limits = Limits(),
    trusted: bool = False,
    keep: int = 64 * 1024,
) -> Outcome:
    """Run ``argv`` for one submission; return how it ended.

    Parameters
    ----------
    argv : the command, with paths as seen inside (``/submission``, ``/grading/...``).
    mounts : what the sandbox shows (see :class:`Mounts`).
    env : the whole environment inside (nothing of the grader's leaks in).
    uid : the unprivileged uid it runs as; give each parallel job its own.
    limits : the limits (see :class:`Limits`).
    trusted : run without bubblewrap (only for trusted submissions; see ``--trusted``).
    keep : bytes of the output's start and end kept in the outcome.
    """
    os.chown(mounts.work, uid, uid)
    os.chown(mounts.out, uid, uid)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="grading-meta-") as meta:
        group = None
        if trusted:
            command = trusted_command(argv, limits)
            popen_env, cwd = env, mounts.work
        else:
            command = bwrap_command(argv, mounts, env, uid, limits, Path(meta))
            popen_env, cwd = {"PATH": "/usr/bin:/bin"}, None
            group = memory_cgroup(f"grading-{uid}-{os.getpid()}", limits.total_memory)
            if group is not None:  # the sandbox and everything it starts, in the cgroup
                join = 'echo $$ > "$0" && exec "$@"'
                command = ["sh", "-c", join, str(group / "cgroup.procs"), *command]
        # Hand-written (no library watches a folder's total size): the files there before the
        # run (the data cache's hard links) are not the submission's writing.
        given = inodes_under(mounts.work)
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=popen_env,
            start_new_session=True,
        )
        code, count, head, tail = "", 0, b"", b""
        at_limit_since = None
        selector = selectors.DefaultSelector()
        selector.register(process.stdout, selectors.EVENT_READ)
        next_scan, next_disk = start + 1.0, start + 2.0
        try:
            while True:
                if selector.select(timeout=0.25):
                    chunk = os.read(process.stdout.fileno(), 65536)
                    if not chunk:
                        break
                    count += len(chunk)
                    if len(head) < keep:
                        head += chunk[: keep - len(head)]
                    tail = (tail + chunk)[-keep:]
                    if count > limits.output:
                        code = "output"
                        break
                now = time.monotonic()
                if now - start > limits.seconds:
                    code = "timeout"
                    break
                if not trusted and now >= next_scan:
                    next_scan = now + 1.0
                    tasks = sum(threads for _, threads in tasks_of_uid(uid))
                    if tasks >= limits.processes - 2:  # the fork bomb has filled its quota
                        at_limit_since = at_limit_since or now
                        if now - at_limit_since >= 2.0:
                            code = "processes"
                            break
                    else:
                        at_limit_since = None
                if not trusted and now >= next_disk:  # every 2 s: 40 ms for 01's 34k data files
                    next_disk = now + 2.0
                    written = bytes_written(mounts.work, given) + bytes_written(mounts.out, set())
                    if written > limits.disk:
                        code = "disk"
                        break
                if process.poll() is not None and not selector.select(timeout=0.5):
                    break  # exited; its orphans (trusted mode only) may hold the pipe open
        finally:
            selector.close()
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if not trusted:
                kill_uid(uid)
            process.stdout.close()
            returncode = process.wait()
            if group is not None:
                if not code and oom_kills(group):
                    code = "memory"
                remove_cgroup(group)
    seconds = time.monotonic() - start
    last = (head + tail)[-4096:] if count <= keep else tail[-4096:]
    if code == "" and returncode != 0 and (b"std::bad_alloc" in last or b"MemoryError" in last):
        code = "memory"
    return Outcome(
        code,
        None if code in ("timeout", "output", "processes", "disk") else returncode,
        seconds,
        count,
        head,
        tail if count > len(head) else b"",
    )


#: Sandboxed runs take free uids from here up (:func:`reserve_uids`); two runs never share one,
#: as the end of a run kills every process of its uid.
UID_BASE = 62000


def reserve_uids(count: int, base: int = None) -> dict[int, object]:
    """``count`` sandbox uids from ``base`` up, each free: no process runs as it and no other
    grading run on this machine holds it (an exclusive lock on ``/tmp/grading-uid-<uid>.lock``,
    released when this run ends, even killed). Returns ``{uid: lock file}``."""
    import fcntl

    base = UID_BASE if base is None else base
    held: dict[int, object] = {}
    uid = base
    while len(held) < count:
        if uid > base + 10_000:
            raise RuntimeError(f"no free sandbox uid in {base}..{base + 10_000}")
        handle = open(f"/tmp/grading-uid-{uid}.lock", "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
        else:
            if tasks_of_uid(uid):  # in use by something else (another tool's sandbox)
                handle.close()
            else:
                held[uid] = handle
        uid += 1
    return held


@contextlib.contextmanager
def reserved_uid(base: int | None = None):
    """One free sandbox uid (see :func:`reserve_uids`), released on exit."""
    held = reserve_uids(1, base)
    try:
        yield next(iter(held))
    finally:
        for handle in held.values():
            handle.close()
