"""The domain core imports neither Flask nor RQ; only crisiscast.jobs imports rq."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ["crisiscast.domain", "crisiscast.rendering", "crisiscast.textlimits", "crisiscast.services",
        "crisiscast.delivery", "crisiscast.audit", "crisiscast.accounts", "crisiscast.models", "crisiscast.feeds",
        "crisiscast.channels", "crisiscast.channels.sms", "crisiscast.channels.x", "crisiscast.channels.facebook",
        "crisiscast.channels.feed", "crisiscast.runtime"]


def test_core_imports_neither_flask_nor_rq():
    code = ("import sys\n" + "".join(f"import {m}\n" for m in CORE) +
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'flask', 'rq', 'werkzeug'}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_worker_entry_point_does_not_build_the_flask_app():
    code = "import sys, worker\nprint('flask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_only_jobs_imports_rq():
    importers = [p.relative_to(ROOT).as_posix() for p in (ROOT / "crisiscast").rglob("*.py")
                 if any(line.startswith(("import rq", "from rq")) or line.strip().startswith(("from rq ", "import rq"))
                        for line in p.read_text().splitlines())]
    assert importers == ["crisiscast/jobs.py"]
