"""EDXL-HAVE-style hospital status for EMS status boards, derived from the latest update's statuses."""
from __future__ import annotations

from lxml import etree

from crisiscast.core.domain import ER_ACCESS, OPERATING_STATUS
from crisiscast.public.cap import timestamp

NS = "urn:oasis:names:tc:emergency:EDXL:HAVE:1.0"
EMS_TRAFFIC = {"open": "Normal", "open_delays": "Advisory", "closed_walkins": "Advisory", "diversion": "Closed",
               "closed": "Closed"}
FACILITY = {"normal": "Normal", "limited": "Compromised", "lockdown": "Compromised", "evacuating": "Evacuating",
            "closed": "Closed"}
SECURITY = {"normal": "Normal", "limited": "Normal", "lockdown": "Lockdown", "evacuating": "Elevated",
            "closed": "RestrictedAccess"}


def hospital_status(settings, update) -> bytes:
    """One hospital's status: EMS traffic (with its reason), facility and security status."""
    root = etree.Element(f"{{{NS}}}HospitalStatus", nsmap={"have": NS})

    def add(parent, name, text=None):
        element = etree.SubElement(parent, f"{{{NS}}}{name}")
        element.text = text
        return element

    hospital = add(root, "Hospital")
    organization = add(add(hospital, "Organization"), "OrganizationInformation")
    add(organization, "OrganizationName", settings.ORG_NAME)
    if update is None:
        add(hospital, "LastUpdateTime", None)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    traffic = add(add(hospital, "EmergencyDepartmentStatus"), "EMSTraffic")
    add(traffic, "EMSTrafficStatus", EMS_TRAFFIC[update.er_access])
    add(traffic, "EMSTrafficReason", ER_ACCESS[update.er_access])
    facility = add(hospital, "HospitalFacilityStatus")
    add(facility, "FacilityStatus", FACILITY[update.operating_status])
    add(facility, "FacilityStatusReason", OPERATING_STATUS[update.operating_status])
    add(facility, "SecurityStatus", SECURITY[update.operating_status])
    add(hospital, "LastUpdateTime", timestamp(update.published_at))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
