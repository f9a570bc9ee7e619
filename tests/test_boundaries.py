"""The architecture, checked: a pure core; no Flask or RQ below the web and jobs layers; only jobs imports rq."""
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import crisiscast

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "store", "services", "sending", "channels", "public")


def modules(package: str) -> list[str]:
    """Every module of crisiscast.<package>, the package itself included."""
    path = ROOT / "crisiscast" / package
    return [f"crisiscast.{package}"] + [f"crisiscast.{package}.{m.name}" for m in pkgutil.iter_modules([str(path)])]


def imported_by(names: list[str]) -> set[str]:
    """The top-level packages loaded by importing `names`, in a fresh interpreter."""
    code = "import sys\n" + "".join(f"import {m}\n" for m in names) + "print(sorted({m.split('.')[0] for m in sys.modules}))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(eval(out.stdout))  # a list literal we printed ourselves


def test_every_package_is_checked():
    found = {m.name for m in pkgutil.iter_modules(crisiscast.__path__) if m.ispkg}
    assert found == set(PACKAGES) | {"jobs", "web", "sandbox"}


def test_the_rq_bridge_imports_no_flask():
    assert imported_by(modules("jobs")) & {"flask", "werkzeug"} == set()


def test_the_core_is_pure_no_web_queue_redis_or_database():
    assert imported_by(modules("core")) & {"flask", "werkzeug", "rq", "redis", "sqlalchemy", "requests"} == set()


@pytest.mark.parametrize("package", PACKAGES[1:])
def test_below_the_web_and_jobs_layers_nothing_imports_flask_or_rq(package):
    assert imported_by(modules(package)) & {"flask", "werkzeug", "rq"} == set()


def test_the_composition_root_and_settings_import_neither_flask_nor_rq():
    assert imported_by(["crisiscast.runtime", "crisiscast.settings", "config"]) & {"flask", "werkzeug", "rq"} == set()


def test_the_worker_entry_point_does_not_build_the_flask_app():
    assert "flask" not in imported_by(["worker"])


def test_only_jobs_imports_rq():
    importers = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "crisiscast").rglob("*.py")
                       if any(line.strip().startswith(("import rq", "from rq ", "from rq."))
                              for line in p.read_text().splitlines()))
    assert importers and all(p.startswith("crisiscast/jobs") for p in importers), importers


def test_the_product_never_imports_the_dev_or_test_tooling():
    product = [m.name for m in pkgutil.walk_packages(crisiscast.__path__, "crisiscast.")
               if not m.name.startswith("crisiscast.sandbox")]
    assert imported_by(product + ["worker"]) & {"dev", "tests"} == set()
