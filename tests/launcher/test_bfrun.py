# SPDX-License-Identifier: Apache-2.0
"""Tests for the bfrun launcher (tools/bfrun).

Three layers:

* unit tests of the script's functions, loaded as a module with
  SourceFileLoader (the script has no .py suffix);
* ``--dry-run`` runs of the script in a subprocess with a small, controlled
  environment: the printed command is parsed with shlex and compared with the
  exact expected argv;
* launches: through a fake ``mpirun`` (a shell script, via --prefix) to check
  exec, argv and exit-status propagation quickly, and a few real Open MPI
  launches (about one second each).

The script path comes from $BFRUN (set by tests/launcher/meson.build) and
defaults to tools/bfrun in this source tree.
"""

import importlib.machinery
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SOURCE_ROOT = Path(__file__).resolve().parents[2]
BFRUN = Path(os.environ.get("BFRUN") or SOURCE_ROOT / "tools" / "bfrun").resolve()

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
HEAD = ["mpirun"] + (["--allow-run-as-root"] if IS_ROOT else [])
MAPPING = ["--bind-to", "none", "--map-by", "slot"]
# The dry-run subprocess environment: LC_ALL keeps Python from adding
# LC_CTYPE (PEP 538 locale coercion), so these are exactly the variables seen.
BASE_ENV = {"PATH": os.environ.get("PATH", os.defpath), "LC_ALL": "C.UTF-8"}
ENV_TAIL = ["-x", "LC_ALL", "-x", "PATH"]


def cpu_count() -> int:
    """What bfrun counts as local slots."""
    return len(os.sched_getaffinity(0))


def load_bfrun():
    """Import tools/bfrun as a module named bfrun_under_test."""
    loader = importlib.machinery.SourceFileLoader("bfrun_under_test", str(BFRUN))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    saved, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no tools/__pycache__
    try:
        loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = saved
    return module


bfrun = load_bfrun()


def run_bfrun(*args, env=None, extra_env=None, **kwargs):
    """Run bfrun with this interpreter; returns the CompletedProcess."""
    environment = dict(BASE_ENV if env is None else env)
    environment.update(extra_env or {})
    kwargs.setdefault("timeout", 120)
    return subprocess.run([sys.executable, str(BFRUN), *map(str, args)],
                          env=environment, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True,
                          stdin=subprocess.DEVNULL, **kwargs)


def dry_run(*args, extra_env=None):
    """argv printed by ``bfrun --dry-run ARGS``, parsed back with shlex."""
    result = run_bfrun("--dry-run", *args, extra_env=extra_env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    return shlex.split(lines[0])


def usage_error(*args, extra_env=None):
    """stderr of a bfrun run that must fail with a usage error (status 2)."""
    result = run_bfrun(*args, extra_env=extra_env)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "usage: bfrun" in result.stderr
    assert result.stdout == ""
    return result.stderr


def write_fake_mpirun(directory: Path, version_line: str, exit_code: int = 0) -> Path:
    """A shell-script mpirun that prints a version or records its argv."""
    script = directory / "mpirun"
    script.write_text(textwrap.dedent("""\
        #!/bin/sh
        if [ "$1" = "--version" ]; then echo '{version}'; exit 0; fi
        printf '%s\\n' "$@" > "$FAKE_ARGV_FILE"
        echo "fake got FAKEVAR=$FAKEVAR"
        exit {code}
        """).format(version=version_line, code=exit_code))
    script.chmod(0o755)
    return script


def open_mpi_available() -> bool:
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        return False
    try:
        out = subprocess.run([mpirun, "--version"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, universal_newlines=True,
                             timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "Open MPI" in out


needs_open_mpi = pytest.mark.skipif(not open_mpi_available(),
                                    reason="Open MPI mpirun not on PATH")


# --------------------------------------------------------------------------
# The script itself
# --------------------------------------------------------------------------

def test_script_is_executable_with_env_python_shebang():
    assert os.access(str(BFRUN), os.X_OK)
    first, second = BFRUN.read_text().splitlines()[:2]
    assert first == "#!/usr/bin/env python3"
    assert second == "# SPDX-License-Identifier: Apache-2.0"


def test_version_direct_execution():
    # Through the shebang, i.e. whatever python3 is first on PATH.
    result = subprocess.run([str(BFRUN), "--version"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "bfrun (BlueFog-C) %s\n" % bfrun.__version__


@pytest.mark.parametrize("args", [["-v"], ["--version"], ["-v", "-np", "2", "true"]])
def test_version_needs_no_num_proc(args):
    result = run_bfrun(*args)
    assert result.returncode == 0
    assert result.stdout.strip() == "bfrun (BlueFog-C) " + bfrun.__version__


def test_version_matches_meson_project():
    meson_build = BFRUN.parent.parent / "meson.build"
    if not meson_build.is_file():
        pytest.skip("not running from a source tree")
    match = re.search(r"version:\s*'([^']+)'", meson_build.read_text())
    assert match, "no project version in meson.build"
    assert bfrun.__version__ == match.group(1)


def test_help_exits_zero_and_lists_options():
    result = run_bfrun("--help")
    assert result.returncode == 0
    for option in ("-np", "--hostfile", "--ssh-port", "--network-interface",
                   "--extra-mpi-flags", "--prefix", "--timeline-filename",
                   "--verbose", "--dry-run"):
        assert option in result.stdout


# --------------------------------------------------------------------------
# Dry-run command construction (exact argv)
# --------------------------------------------------------------------------

def test_dry_run_minimal():
    assert dry_run("-np", "1", "prog", "arg") == (
        HEAD + ["-np", "1"] + MAPPING + ENV_TAIL + ["prog", "arg"])


@pytest.mark.parametrize("spelling", [["-np", "1"], ["--num-proc", "1"],
                                      ["-np=1"], ["--num-proc=1"]])
def test_dry_run_num_proc_spellings(spelling):
    assert dry_run(*spelling, "prog") == HEAD + ["-np", "1"] + MAPPING + ENV_TAIL + ["prog"]


@pytest.mark.parametrize("extra, oversubscribe", [(0, False), (1, True)])
def test_dry_run_local_oversubscribe(extra, oversubscribe):
    np_ = cpu_count() + extra
    flag = ["--oversubscribe"] if oversubscribe else []
    assert dry_run("-np", np_, "prog") == (
        HEAD + ["-np", str(np_)] + flag + MAPPING + ENV_TAIL + ["prog"])


@pytest.mark.parametrize("np_, oversubscribe", [(6, False), (7, True)])
def test_dry_run_hosts(np_, oversubscribe):
    flag = ["--oversubscribe"] if oversubscribe else []
    assert dry_run("-np", np_, "-H", "host1:2,host2:4", "prog") == (
        HEAD + ["-np", str(np_), "-H", "host1:2,host2:4"] + flag + MAPPING
        + ENV_TAIL + ["prog"])


def test_dry_run_hosts_default_one_slot_each():
    # "-H a,b:3" -> a has 1 slot (as in mpirun -H): 4 slots in all.
    assert dry_run("--hosts=a, b:3", "-np", "5", "prog") == (
        HEAD + ["-np", "5", "-H", "a:1,b:3", "--oversubscribe"] + MAPPING
        + ENV_TAIL + ["prog"])


@pytest.mark.parametrize("np_, oversubscribe", [(7, False), (8, True)])
def test_dry_run_hostfile(tmp_path, np_, oversubscribe):
    hostfile = tmp_path / "hosts"
    hostfile.write_text(textwrap.dedent("""\
        # cluster
        node1 slots=2   # GPU box

        node2:4
        node3
        """))
    flag = ["--oversubscribe"] if oversubscribe else []
    for option in ("-hostfile", "--hostfile"):
        assert dry_run("-np", np_, option, hostfile, "prog") == (
            HEAD + ["-np", str(np_), "-H", "node1:2,node2:4,node3:1"] + flag
            + MAPPING + ENV_TAIL + ["prog"])


@pytest.mark.parametrize("spelling", [["-p", "2222"], ["--ssh-port", "2222"],
                                      ["-p2222"], ["--ssh-port=2222"]])
def test_dry_run_ssh_port(spelling):
    assert dry_run("-np", "1", *spelling, "prog") == (
        HEAD + ["-np", "1"] + MAPPING + ["--mca", "plm_rsh_args", "-p 2222"]
        + ENV_TAIL + ["prog"])


def test_dry_run_network_interface():
    assert dry_run("-np", "1", "--network-interface", "eth0, ib0", "prog") == (
        HEAD + ["-np", "1"] + MAPPING
        + ["--mca", "btl_tcp_if_include", "eth0,ib0",
           "--mca", "oob_tcp_if_include", "eth0,ib0",
           "-x", "NCCL_SOCKET_IFNAME=eth0,ib0"]
        + ENV_TAIL + ["prog"])


def test_dry_run_extra_mpi_flags_are_shell_split():
    flags = "--mca btl self,tcp -x 'GREETING=hello world' --tag-output"
    assert dry_run("-np", "1", "--extra-mpi-flags", flags, "prog") == (
        HEAD + ["-np", "1"] + MAPPING
        + ["--mca", "btl", "self,tcp", "-x", "GREETING=hello world", "--tag-output"]
        + ENV_TAIL + ["prog"])


def test_dry_run_prefix_string():
    assert dry_run("-np", "1", "--prefix", "/opt/ompi/bin/", "prog") == (
        ["/opt/ompi/bin/mpirun"] + HEAD[1:] + ["-np", "1"] + MAPPING + ENV_TAIL + ["prog"])


def test_dry_run_prefix_directory(tmp_path):
    # A directory without mpirun: PREFIX/mpirun (reported missing at launch).
    argv = dry_run("-np", "1", "--prefix", tmp_path, "prog")
    assert argv[0] == str(tmp_path / "mpirun")
    # An installation prefix: PREFIX/bin/mpirun.
    (tmp_path / "bin").mkdir()
    write_fake_mpirun(tmp_path / "bin", "mpirun (Open MPI) 4.1.4")
    argv = dry_run("-np", "1", "--prefix", tmp_path, "prog")
    assert argv == [str(tmp_path / "bin" / "mpirun")] + HEAD[1:] + (
        ["-np", "1"] + MAPPING + ENV_TAIL + ["prog"])


def test_dry_run_timeline_filename():
    assert dry_run("-np", "1", "--timeline-filename", "/tmp/tl dir/run-", "prog") == (
        HEAD + ["-np", "1"] + MAPPING + ["-x", "BLUEFOG_TIMELINE=/tmp/tl dir/run-"]
        + ENV_TAIL + ["prog"])


def test_dry_run_timeline_overrides_environment_value():
    argv = dry_run("-np", "1", "--timeline-filename", "new-", "prog",
                   extra_env={"BLUEFOG_TIMELINE": "old-"})
    assert argv == (HEAD + ["-np", "1"] + MAPPING + ["-x", "BLUEFOG_TIMELINE=new-"]
                    + ENV_TAIL + ["prog"])


def test_dry_run_verbose_sets_log_level():
    argv = dry_run("-np", "1", "--verbose", "prog", extra_env={"BLUEFOG_LOG_LEVEL": "info"})
    assert argv == (HEAD + ["-np", "1"] + MAPPING + ["-x", "BLUEFOG_LOG_LEVEL=debug"]
                    + ENV_TAIL + ["prog"])


def test_dry_run_environment_filter():
    extra = {
        "MYVAR": "two words", "lower_case": "1", "_private": "1",
        "OLDPWD": "/", "PWD": "/tmp", "SHLVL": "2", "_": "/usr/bin/env",
        "BASH_FUNC_myfunc%%": "() {  echo hi\n}", "BASH_FUNC_X": "1",
        "BAD-NAME": "1", "9LIVES": "1", "WITH.DOT": "1",
    }
    argv = dry_run("-np", "1", "prog", extra_env=extra)
    names = ["LC_ALL", "MYVAR", "PATH", "_private", "lower_case"]
    assert argv == (HEAD + ["-np", "1"] + MAPPING
                    + [w for n in names for w in ("-x", n)] + ["prog"])


def test_dry_run_all_options_in_order(tmp_path):
    argv = dry_run("-np", "9", "-H", "a:4,b:4", "-p", "22", "--network-interface", "lo",
                   "--extra-mpi-flags", "--mca mpi_yield_when_idle 1",
                   "--prefix", "/x/", "--timeline-filename", "tl-", "--verbose",
                   "--", "python3", "train.py", "--lr", "0.1")
    assert argv == (["/x/mpirun"] + HEAD[1:]
                    + ["-np", "9", "-H", "a:4,b:4", "--oversubscribe"] + MAPPING
                    + ["--mca", "plm_rsh_args", "-p 22",
                       "--mca", "btl_tcp_if_include", "lo",
                       "--mca", "oob_tcp_if_include", "lo",
                       "-x", "NCCL_SOCKET_IFNAME=lo",
                       "--mca", "mpi_yield_when_idle", "1",
                       "-x", "BLUEFOG_TIMELINE=tl-", "-x", "BLUEFOG_LOG_LEVEL=debug"]
                    + ENV_TAIL + ["python3", "train.py", "--lr", "0.1"])


@pytest.mark.parametrize("args, command", [
    (["-np", "2", "python", "-u", "x.py", "-np", "5", "--verbose"],
     ["python", "-u", "x.py", "-np", "5", "--verbose"]),
    (["-np", "2", "--", "python", "--", "x"], ["python", "--", "x"]),
    (["-np", "2", "--", "--looks-like-an-option"], ["--looks-like-an-option"]),
    (["-np", "2", "sh", "-c", "echo 'a b' \"$X\""], ["sh", "-c", "echo 'a b' \"$X\""]),
])
def test_dry_run_command_boundary(args, command):
    argv = dry_run(*args)
    assert argv[-len(command):] == command
    assert "BLUEFOG_LOG_LEVEL=debug" not in argv


# --------------------------------------------------------------------------
# Usage errors (exit status 2)
# --------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["prog"], "required: -np/--num-proc"),
    ([], "required: -np/--num-proc"),
    (["-np", "0", "prog"], "must be at least 1"),
    (["-np", "-3", "prog"], "must be at least 1"),
    (["-np", "two", "prog"], "invalid int value"),
    (["-np", "2"], "no command given"),
    (["-np", "2", "--"], "no command given"),
    (["-np", "2", "--bogus", "prog"], "unrecognized arguments: --bogus"),
    (["-np", "2", "--verb", "prog"], "unrecognized arguments: --verb"),
    (["-np", "2", "-p", "0", "prog"], "must be in 1..65535"),
    (["-np", "2", "-p", "70000", "prog"], "must be in 1..65535"),
    (["-np", "2", "-H", "a:0", "prog"], "slot count must be at least 1"),
    (["-np", "2", "-H", "a:x", "prog"], "is not an integer"),
    (["-np", "2", "-H", "a,,b", "prog"], "empty host entry"),
    (["-np", "2", "-H", ":2", "prog"], "empty host name"),
    (["-np", "2", "--network-interface", "eth0,", "prog"], "empty interface name"),
    (["-np", "2", "--extra-mpi-flags", "-x 'unbalanced", "prog"], "--extra-mpi-flags"),
    (["-np", "2", "--hostfile", "/nonexistent/hosts", "prog"], "cannot read /nonexistent/hosts"),
])
def test_usage_errors(args, message):
    assert message in usage_error(*args)


@pytest.mark.parametrize("order", [("-H", "-hostfile"), ("--hostfile", "--hosts")])
def test_hosts_and_hostfile_are_mutually_exclusive(tmp_path, order):
    hostfile = tmp_path / "hosts"
    hostfile.write_text("a slots=1\n")
    values = {"-H": "a:1", "--hosts": "a:1", "-hostfile": hostfile, "--hostfile": hostfile}
    stderr = usage_error("-np", "1", order[0], values[order[0]],
                         order[1], values[order[1]], "prog")
    assert "not allowed with argument" in stderr


def test_bad_hostfile_line_is_reported_with_line_number(tmp_path):
    hostfile = tmp_path / "hosts"
    hostfile.write_text("good slots=2\n\nbad slot=2\n")
    assert "%s:3: unexpected 'slot=2'" % hostfile in usage_error(
        "-np", "1", "-hostfile", hostfile, "prog")


# --------------------------------------------------------------------------
# Unit tests of the script's functions
# --------------------------------------------------------------------------

def test_parse_hostfile_text_forms():
    text = ("# comment only\n"
            "  \n"
            "a slots=2\n"
            "b:3  # trailing comment\n"
            "c\n"
            "d slots=4 max_slots=8\n"
            "\tE\tslots=1\n")
    assert bfrun.parse_hostfile_text(text, "hf") == [
        ("a", 2), ("b", 3), ("c", 1), ("d", 4), ("E", 1)]


@pytest.mark.parametrize("text, message", [
    ("", "hf: no hosts listed"),
    ("# nothing\n", "hf: no hosts listed"),
    ("a slots=0\n", "hf:1: slot count must be at least 1"),
    ("a\nb slots=two\n", "hf:2: slot count 'two' is not an integer"),
    ("a:2 slots=3\n", "hf:1: both host:N and slots= given"),
    ("a 4\n", "hf:1: unexpected '4'"),
])
def test_parse_hostfile_text_errors(text, message):
    with pytest.raises(ValueError) as err:
        bfrun.parse_hostfile_text(text, "hf")
    assert message in str(err.value)


def test_read_hostfile(tmp_path):
    path = tmp_path / "hosts"
    path.write_text("n1 slots=8\nn2 slots=8\n")
    hosts = bfrun.read_hostfile(str(path))
    assert hosts == [bfrun.Host("n1", 8), bfrun.Host("n2", 8)]
    assert bfrun.format_hosts(hosts) == "n1:8,n2:8"
    assert bfrun.available_slots(hosts) == 16


def test_parse_hosts():
    assert bfrun.parse_hosts("h1:2,h2:4,h3") == [("h1", 2), ("h2", 4), ("h3", 1)]
    assert bfrun.parse_hosts("10.0.0.1:2") == [("10.0.0.1", 2)]


@pytest.mark.parametrize("num_proc, slots, expected", [
    (1, 1, False), (2, 2, False), (3, 2, True), (1, 64, False), (65, 64, True)])
def test_needs_oversubscribe(num_proc, slots, expected):
    assert bfrun.needs_oversubscribe(num_proc, slots) is expected


def test_local_slots_uses_affinity(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5})
    assert bfrun.local_slots() == 3
    assert bfrun.available_slots(None) == 3


def test_local_slots_falls_back_to_cpu_count(monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.setattr(os, "cpu_count", lambda: 7)
    assert bfrun.local_slots() == 7


@pytest.mark.parametrize("euid, expected", [(0, True), (1000, False)])
def test_is_root(monkeypatch, euid, expected):
    monkeypatch.setattr(os, "geteuid", lambda: euid)
    assert bfrun.is_root() is expected


def test_is_root_without_geteuid(monkeypatch):
    monkeypatch.delattr(os, "geteuid")
    assert bfrun.is_root() is False


@pytest.mark.parametrize("euid", [0, 1000])
def test_build_command_root_flag(monkeypatch, euid):
    monkeypatch.setattr(os, "geteuid", lambda: euid)
    args = bfrun.parse_args(["-np", "2", "prog"])
    command = bfrun.build_command(args, {"PATH": "/bin"}, slots=2)
    flag = ["--allow-run-as-root"] if euid == 0 else []
    assert command == (["mpirun"] + flag + ["-np", "2"] + MAPPING
                       + ["-x", "PATH", "prog"])


@pytest.mark.parametrize("name, expected", [
    ("PATH", True), ("MYVAR", True), ("lower", True), ("_X", True), ("A1", True),
    ("OLDPWD", False), ("PWD", False), ("SHLVL", False), ("_", False),
    ("BASH_FUNC_f%%", False), ("BASH_FUNC_f", False), ("1A", False),
    ("A-B", False), ("A.B", False), ("", False), ("ÄVAR", False), ("A B", False)])
def test_is_forwardable(name, expected):
    assert bfrun.is_forwardable(name) is expected


def test_forwarded_env_names_sorted_and_skipping():
    env = {"B": "1", "A": "2", "PWD": "/", "C": "3"}
    assert bfrun.forwarded_env_names(env) == ["A", "B", "C"]
    assert bfrun.forwarded_env_names(env, skip=["B"]) == ["A", "C"]


@pytest.mark.parametrize("argv, options, command", [
    (["-np", "2", "a", "-b"], ["-np", "2"], ["a", "-b"]),
    (["-np=2", "--verbose", "a"], ["-np=2", "--verbose"], ["a"]),
    (["-np", "2", "--", "-a"], ["-np", "2"], ["-a"]),
    (["-p2222", "-np", "1", "-", "x"], ["-p2222", "-np", "1"], ["-", "x"]),
    (["--extra-mpi-flags", "--mca a b", "c"], ["--extra-mpi-flags", "--mca a b"], ["c"]),
    (["-v"], ["-v"], []),
])
def test_split_command(argv, options, command):
    assert bfrun.split_command(argv) == (options, command)


def test_mpirun_program(tmp_path):
    assert bfrun.mpirun_program(None) == "mpirun"
    assert bfrun.mpirun_program("") == "mpirun"
    assert bfrun.mpirun_program("/opt/bin/") == "/opt/bin/mpirun"
    assert bfrun.mpirun_program(str(tmp_path)) == str(tmp_path / "mpirun")


def test_check_open_mpi_accepts_open_mpi(tmp_path):
    fake = write_fake_mpirun(tmp_path, "mpirun (Open MPI) 4.1.4")
    bfrun.check_open_mpi(str(fake))


def test_check_open_mpi_rejects_others(tmp_path):
    fake = write_fake_mpirun(tmp_path, "HYDRA build details:")
    with pytest.raises(bfrun.LauncherError) as err:
        bfrun.check_open_mpi(str(fake))
    assert str(err.value).startswith("bfrun supports Open MPI only; found HYDRA build details:")


def test_locate_mpirun_errors(tmp_path):
    with pytest.raises(bfrun.LauncherError) as err:
        bfrun.locate_mpirun("mpirun", {"PATH": str(tmp_path)})
    assert "mpirun not found on PATH (%s)" % tmp_path in str(err.value)
    with pytest.raises(bfrun.LauncherError) as err:
        bfrun.locate_mpirun(str(tmp_path / "mpirun"), {}, str(tmp_path))
    assert str(tmp_path / "mpirun") in str(err.value)
    assert "--prefix %s" % tmp_path in str(err.value)


# --------------------------------------------------------------------------
# Launch errors and exec, through fake mpirun scripts (fast)
# --------------------------------------------------------------------------

def test_missing_mpirun_on_path(tmp_path):
    result = run_bfrun("-np", "1", "true", env={"PATH": str(tmp_path), "LC_ALL": "C.UTF-8"})
    assert result.returncode == 1
    assert "bfrun: error: mpirun not found on PATH (%s)" % tmp_path in result.stderr


def test_missing_mpirun_at_prefix(tmp_path):
    result = run_bfrun("-np", "1", "--prefix", "%s/" % tmp_path, "true")
    assert result.returncode == 1
    assert "mpirun not found: %s/mpirun" % tmp_path in result.stderr
    assert "--prefix %s/" % tmp_path in result.stderr


def test_not_open_mpi_is_refused(tmp_path):
    write_fake_mpirun(tmp_path, "HYDRA build details:")
    result = run_bfrun("-np", "1", "--prefix", tmp_path, "true")
    assert result.returncode == 1
    assert "bfrun supports Open MPI only; found HYDRA build details:" in result.stderr


def test_exec_passes_dry_run_argv_env_and_exit_status(tmp_path):
    write_fake_mpirun(tmp_path, "mpirun (Open MPI) 4.1.4", exit_code=7)
    argv_file = tmp_path / "argv"
    extra = {"FAKE_ARGV_FILE": str(argv_file), "FAKEVAR": "x y"}
    args = ["-np", "2", "--prefix", tmp_path, "--verbose", "prog", "a b"]
    expected = dry_run(*args, extra_env=extra)
    result = run_bfrun(*args, extra_env=extra)
    assert result.returncode == 7
    assert result.stdout == "fake got FAKEVAR=x y\n"
    assert shlex.split(result.stderr.strip()) == expected  # --verbose echo
    assert [str(tmp_path / "mpirun")] + argv_file.read_text().splitlines() == expected


# --------------------------------------------------------------------------
# Real Open MPI launches (about one second each)
# --------------------------------------------------------------------------

def launch_env(**extra):
    """This environment without settings that would hide what bfrun adds."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMPI_ALLOW_RUN_AS_ROOT", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM",
                        "OMPI_MCA_rmaps_base_oversubscribe")}
    env.update(extra)
    return env


@needs_open_mpi
def test_real_launch_forwards_environment():
    result = run_bfrun("-np", "2", "/bin/sh", "-c", "echo rank $OMPI_COMM_WORLD_RANK $MYVAR",
                       env=launch_env(MYVAR="hello bluefog"))
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == ["rank 0 hello bluefog",
                                                  "rank 1 hello bluefog"]


@needs_open_mpi
def test_real_launch_oversubscribes_automatically():
    # bfrun sees at most two CPUs, so three ranks need --oversubscribe.
    cpus = sorted(os.sched_getaffinity(0))[:2]
    result = run_bfrun("-np", "3", "--verbose", "true", env=launch_env(),
                       preexec_fn=lambda: os.sched_setaffinity(0, cpus))
    assert result.returncode == 0, result.stderr
    printed = shlex.split(result.stderr.splitlines()[0])
    assert "--oversubscribe" in printed
    assert ("--allow-run-as-root" in printed) is IS_ROOT


@needs_open_mpi
def test_real_launch_propagates_failure():
    result = run_bfrun("-np", "2", "sh", "-c", "exit 3", env=launch_env())
    assert result.returncode != 0
