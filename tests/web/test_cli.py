"""The command line: `flask --app crisiscast.web public rebuild`."""
from pathlib import Path

from crisiscast.core.domain import Draft
from crisiscast.services import publishing


def test_public_rebuild_renders_every_page_and_alert(runner, db, runtime, users, settings):
    uids = []
    for headline in ("ER open", "ER closed to walk-ins"):
        draft = Draft(incident="Drill", er_access="open", operating_status="normal", headline=headline,
                      channels=("x",))
        uids.append(publishing.publish(db, draft, uid=publishing.new_uid(), author=users["author"], settings=settings,
                                     channels=runtime.channels, enqueue=lambda *a: None).update.uid)
    result = runner.invoke(args=["public", "rebuild"])
    assert result.exit_code == 0, result.output
    root = Path(settings["PUBLIC_DIR"])
    # The status page, three feeds, the CAP index and HAVE; the incident's three feeds; a page and alert each.
    assert f"public site rebuilt: 13 files changed in {root}" in result.output
    for uid in uids:
        assert "ER " in (root / "u" / f"{uid}.html").read_text() and (root / "cap" / f"{uid}.xml.gz").exists()
