"""The live counters agree with the rendering that is previewed and sent."""
from crisiscast.core.counters import live_counts
from crisiscast.core.domain import Draft
from crisiscast.core.rendering import RenderContext, render_sms, render_x

CTX = RenderContext(org_name="Scott & White", link="https://status.example.org/u/abc123def456")


def test_counts_match_the_rendering_when_nothing_is_shortened():
    draft = Draft("Drill", "diversion", "normal", "ER on ambulance diversion", body="Ambulances go to Metroplex. 🚑")
    counts = live_counts(draft, CTX)
    assert counts["headline"] == len("ER on ambulance diversion")
    assert counts["sms_segments"] == render_sms(draft, CTX).stats["segments"] == 2  # the emoji forces UCS-2
    assert counts["x_weight"] == render_x(draft, CTX).stats["characters"]


def test_counts_show_the_whole_text_when_the_send_is_shortened():
    draft = Draft("Drill", "open", "normal", "Headline", body="word " * 200)
    counts = live_counts(draft, CTX)
    assert counts["sms_segments"] > CTX.sms_max_segments >= render_sms(draft, CTX).stats["segments"]
    assert counts["x_weight"] > 280 >= render_x(draft, CTX).stats["characters"]


def test_a_blank_form_still_counts():
    assert live_counts(Draft("", "", "", ""), CTX)["headline"] == 0


def test_an_exercise_counts_its_marker():
    draft = Draft("Drill", "diversion", "normal", "ER on ambulance diversion", body="Ambulances go to Metroplex.")
    drill = RenderContext(org_name="Scott & White", link="", exercise=True)
    counts, plain = live_counts(draft, drill), live_counts(draft, CTX)
    assert counts["x_weight"] == plain["x_weight"] + len("EXERCISE — ") == render_x(draft, drill).stats["characters"]
    assert counts["sms_segments"] == render_sms(draft, drill).stats["segments"]
