"""`tfseg view`: a page opened by the browser $BROWSER names, a folder served until Ctrl-C, and bad paths refused."""

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from tfseg.cli.view import main as view_main

ROOT = Path(__file__).resolve().parents[1]


def _report(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.html").write_text("<!DOCTYPE html><title>report</title><p>every image")
    return folder


def test_view_opens_the_folders_report_in_the_browser_browser_names(tmp_path):
    """$BROWSER (webbrowser's own setting) runs a command that records the address it is given."""
    folder, opened = _report(tmp_path / "eval test"), tmp_path / "opened.txt"
    browser = f"{sys.executable} -c \"import sys; open(sys.argv[1], 'w').write(sys.argv[2])\" {opened} %s"
    result = subprocess.run([sys.executable, "-m", "tfseg", "view", str(folder)], capture_output=True, text=True,
                            cwd=ROOT, env={**os.environ, "BROWSER": browser})
    assert result.returncode == 0, result.stderr
    assert opened.read_text() == (folder / "report.html").resolve().as_uri()
    assert "opened in the browser" in result.stdout


def test_view_serves_the_folder_on_localhost_until_ctrl_c(tmp_path):
    folder = _report(tmp_path / "eval")
    (folder / "report_files").mkdir()
    (folder / "report_files" / "a b.jpg").write_bytes(b"jpeg")
    # started with SIGINT ignored, as a shell starts a background job: Ctrl-C must stop it all the same
    server = subprocess.Popen([sys.executable, "-m", "tfseg", "view", str(folder), "--serve"], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        line = server.stdout.readline()
        address = line.split(" at ")[1].split()[0]
        assert address.startswith("http://127.0.0.1:") and address.endswith("/report.html") and ":0/" not in address
        assert b"every image" in urllib.request.urlopen(address).read()
        assert urllib.request.urlopen(address.replace("report.html", "report_files/a%20b.jpg")).read() == b"jpeg"
        status = Path(f"/proc/{server.pid}/status")
        if status.is_file():  # Linux: check the handler is there before relying on it
            caught = int(next(row for row in status.read_text().splitlines() if row.startswith("SigCgt:")).split()[1], 16)
            assert caught & 1 << (signal.SIGINT - 1), "tfseg view --serve does not catch SIGINT"
        server.send_signal(signal.SIGINT)
        stdout, stderr = server.communicate()
        assert server.returncode == 0 and stdout.strip() == "tfseg: stopped" and stderr == ""
    finally:
        server.kill()
        server.wait()


def test_view_refuses_a_folder_without_a_page_in_one_line(tmp_path, capsys):
    assert view_main([str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (f"error: {tmp_path}: no report.html or index.html in this folder; expected "
                                               "an evaluation's folder (RUN_DIR/eval/SPLIT), a study's or predict.py "
                                               "--overlays' output")
    assert view_main([str(tmp_path / "missing.html")]) == 2
    assert "no such HTML page or folder" in capsys.readouterr().err
