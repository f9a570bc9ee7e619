"""message templates, seeded with a starter set, and the template each update started from

The starter set follows how hospitals have told the public what to do in a crisis (Fort Hood, 2009, and
since): short, one instruction each, never a patient's name. Admins edit or delete them like any other.

Revision ID: 0014
Revises: 0009
"""
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0009"
branch_labels = None
depends_on = None

ALL = ["sms", "x", "facebook", "feed"]
# (name, ER access, operating status, headline, text, minutes to the next update); "" keeps what the
# latest update said.
STARTERS = [
    ("ER on ambulance diversion", "diversion", "normal", "ER on ambulance diversion",
     "Ambulances are taking patients to {place}. Walk-in patients are still seen in our ER. "
     "In an emergency, call 911.", 30),
    ("ER closed to walk-ins (mass-casualty incident)", "closed_walkins", "limited",
     "ER closed to walk-ins: mass-casualty incident",
     "Our ER is treating the injured from a mass-casualty incident. For other emergencies go to {place} or "
     "call 911. Please do not come to the ER to look for family; we will post where to go here.", 30),
    ("Lockdown — do not come to campus", "closed", "lockdown", "Hospital in lockdown: do not come to campus",
     "Do not come to campus. Patients and staff inside are sheltering safely. Police are on scene. "
     "Follow this page for updates.", 30),
    ("Shelter in place", "", "limited", "Shelter in place",
     "Everyone on campus: stay inside, away from windows and doors, until told otherwise. "
     "Visitors: do not come to campus now.", 30),
    ("Evacuation", "closed", "evacuating", "Hospital evacuating: do not come to campus",
     "Patients are being moved safely to {place}. Families: do not come to the hospital; call {phone} "
     "to learn where your family member is.", 30),
    ("Blood donors needed at {place}", "", "", "Blood donors needed at {place}",
     "Donors of every blood type are needed. Donate at {place}; bring a photo ID. "
     "Please keep the ER entrance clear for ambulances.", 60),
    ("Family Information Center open at {place}, call {phone}", "", "",
     "Family Information Center open at {place}",
     "Looking for a family member? Go to the Family Information Center at {place} or call {phone}. "
     "We never give patient names by phone, online or to the media.", 60),
    ("Visitor restrictions", "", "limited", "Visitor restrictions in effect",
     "Until further notice: one visitor per patient, no visitors under 16. Enter only at {place}.", 120),
    ("All clear — ER open, normal operations", "open", "normal", "All clear: ER open, normal operations",
     "The emergency is over. Our ER is open and the hospital is back to normal operations. "
     "Thank you for your patience.", None),
]


def upgrade() -> None:
    templates = op.create_table(
        "message_templates",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(80), nullable=False, unique=True),
        sa.Column("er_access", sa.String(32), nullable=False),
        sa.Column("operating_status", sa.String(32), nullable=False),
        sa.Column("headline", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("lists", sa.JSON(), nullable=False),
        sa.Column("next_update_minutes", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("updates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("template_id", sa.Integer(), nullable=True))
    now = datetime.now(timezone.utc)
    op.bulk_insert(templates, [
        {"id": n, "name": name, "er_access": er, "operating_status": status, "headline": headline, "body": body,
         "channels": ALL, "lists": ["public"], "next_update_minutes": minutes, "created_at": now,
         "updated_at": now}
        for n, (name, er, status, headline, body, minutes) in enumerate(STARTERS, start=1)])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text(f"SELECT setval('message_templates_id_seq', {len(STARTERS)})"))


def downgrade() -> None:
    with op.batch_alter_table("updates", schema=None) as batch_op:
        batch_op.drop_column("template_id")
    op.drop_table("message_templates")
