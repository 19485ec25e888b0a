"""Issue 11: `make test` gets Debian's chromium, or stops at once with one line."""
import os
import stat
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "ensure_chromium.sh")


def tool(folder, name, body):
    path = folder / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def run(bin_dir, chromium):
    env = {"PATH": str(bin_dir), "CHROMIUM_PATH": str(chromium)}
    return subprocess.run(["/bin/sh", SCRIPT], env=env, capture_output=True, text=True,
                          timeout=60)


def sandbox(tmp_path, uid):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool(bin_dir, "id", "echo %d" % uid)
    os.symlink("/usr/bin/env", bin_dir / "env")
    return bin_dir


def test_present_chromium_needs_nothing(tmp_path):
    bin_dir = sandbox(tmp_path, 1000)
    chromium = tool(tmp_path, "chromium", "exit 0")
    done = run(bin_dir, chromium)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_without_a_way_to_install_it_stops_with_one_line(tmp_path):
    bin_dir = sandbox(tmp_path, 1000)  # not root, no sudo, no apt-get
    done = run(bin_dir, tmp_path / "missing" / "chromium")
    assert done.returncode == 1 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1
    assert "chromium" in done.stderr and "apt-get install chromium" in done.stderr


def fake_apt_get(bin_dir, log, chromium):
    tool(bin_dir, "apt-get", 'echo "$DEBIAN_FRONTEND $*" >> %s\n'
         'case "$*" in *install*chromium*) printf "#!/bin/sh\\n" > %s; '
         '/bin/chmod +x %s;; esac' % (log, chromium, chromium))


def test_as_root_it_installs_debian_chromium_through_apt_get(tmp_path):
    bin_dir = sandbox(tmp_path, 0)
    log, chromium = tmp_path / "apt.log", tmp_path / "chromium"
    fake_apt_get(bin_dir, log, chromium)
    done = run(bin_dir, chromium)
    assert done.returncode == 0, done.stderr
    assert log.read_text().splitlines() == ["noninteractive update -q",
                                            "noninteractive install -y -q chromium"]
    assert os.access(chromium, os.X_OK)


def test_with_passwordless_sudo_it_installs_through_sudo(tmp_path):
    bin_dir = sandbox(tmp_path, 1000)
    log, chromium = tmp_path / "apt.log", tmp_path / "chromium"
    fake_apt_get(bin_dir, log, chromium)
    tool(bin_dir, "sudo", 'echo "sudo $*" >> %s\n[ "$1" = -n ] && shift\n'
         '[ "$1" = true ] && exit 0\nexec "$@"' % log)
    done = run(bin_dir, chromium)
    assert done.returncode == 0, done.stderr
    assert "noninteractive install -y -q chromium" in log.read_text()
    assert "sudo -n true" in log.read_text()


def test_a_failed_install_stops_with_one_line(tmp_path):
    bin_dir = sandbox(tmp_path, 0)
    tool(bin_dir, "apt-get", "exit 100")
    done = run(bin_dir, tmp_path / "chromium")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("make test needs Chromium")


def test_make_test_checks_chromium_before_anything_else():
    # Under `make test` itself the parent's MAKEFLAGS/MAKELEVEL add "Entering directory" lines.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    done = subprocess.run(["make", "-n", "-B", "test"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if not line.startswith("make[")]
    assert "ensure_chromium.sh" in lines[0]
    assert any("pytest" in line for line in lines[1:])
