"""Imports (POST /import/, run by a real `geniziz worker`) and exports, through HTTP on the real server:
malformed rows with clear per-row errors while good rows are kept, duplicates updated or skipped as
asked, a dry run, the mapping guessed and overridden, several chunks, and export round-trips."""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Api, Server, running_worker, wait_until
from tests.factories import make_contact, make_lead, make_opportunity
from tests.test_merge_move import failing

FAST = {"GENIZIZ_WORKER_POLL_SECONDS": "0.1", "GENIZIZ_JOB_BACKOFF_SECONDS": "0.5", "GENIZIZ_LOG_LEVEL": "info"}


@pytest.fixture(scope="module", autouse=True)
def worker(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A worker for the session's database."""
    with running_worker(server.database_url, tmp_path_factory.mktemp("import-worker") / "worker.log", **FAST):
        yield


def to_csv(rows: list[list[Any]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def run_import(api: Api, content: str, **options: Any) -> dict[str, Any]:
    started = api.ok("POST", "/import/", json={"content": content, **options})
    assert started["status"] == "queued" and started["job_id"], started
    return wait_until(lambda: (now := api.ok("GET", f"/import/{started['id']}/"))["status"] in ("succeeded", "failed")
                      and now, timeout=120, what="the import to finish")


def errors(api: Api, import_id: str) -> list[dict[str, Any]]:
    return api.ok("GET", f"/import/{import_id}/errors/")["data"]


def leads_named(api: Api, name: str) -> list[dict[str, Any]]:
    return [lead for lead in api.ok("GET", "/lead/", params={"query": name, "_limit": 200})["data"] if lead["name"] == name]


# --- import ----------------------------------------------------------------------------------------------
def test_a_file_with_malformed_rows_keeps_the_good_ones_and_says_why_for_the_others(api: Api) -> None:
    api.create("status/lead", label="Nurture")
    tag = secrets.token_hex(3)
    content = to_csv([
        ["Company", "Website", "First Name", "Last Name", "Email", "Title", "Phone", "Status", "City", "Notes"],
        [f"Acme {tag}", "acme-{tag}.example".format(tag=tag), "Ann", "Lee", f"ann@acme-{tag}.example", "CEO",
         "+1 555 010 0001", "nurture", "Austin", "ignored"],
        [f"Acme {tag}", "", "Bob", "Ray", f"bob@acme-{tag}.example", "CTO", "", "", "", ""],  # same company: same lead
        [f"Bad Email {tag}", "", "Cy", "", "not-an-email", "", "", "", "", ""],  # row 4
        [f"Bad Status {tag}", "", "", "", "", "", "", "Imaginary", "", ""],  # row 5
        [f"Beta {tag}", "https://beta-{tag}.example".format(tag=tag), "", "", "", "", "", "", "", ""],
        ["", "", "", "", "", "", "", "", "", ""],  # a blank line: not a row
        [f"Too many {tag}", "", "", "", "", "", "", "", "", "", "extra"],  # row 8
        ["", "", "", "", "", "", "not a phone", "", "", ""],  # row 9: a contact with only a bad phone
    ])
    done = run_import(api, content, file_name="leads.csv", mapping={"Notes": None})
    assert done["status"] == "succeeded" and done["total_rows"] == 7 and done["processed_rows"] == 7
    assert done["mapping"]["Company"] == "lead.name" and done["mapping"]["Email"] == "contact.email"
    assert done["mapping"]["First Name"] == "contact.first_name" and done["mapping"]["Notes"] is None
    assert done["counts"] == {"created_leads": 2, "created_contacts": 2}, done
    assert done["failed_rows"] == 4
    reasons = {e["row"]: e for e in errors(api, done["id"])}
    assert sorted(reasons) == [4, 5, 8, 9]
    assert reasons[4]["field"] == "contact.emails" and "email" in reasons[4]["reason"]
    assert reasons[5]["field"] == "lead.status" and "Imaginary" in reasons[5]["reason"]
    assert "11 cells for 10 columns" in reasons[8]["reason"]
    assert reasons[9]["field"] == "contact.phones"
    # The good rows, with the rules of a single create: normalized data, status by label, one lead per company.
    [acme] = leads_named(api, f"Acme {tag}")
    assert acme["url"] == f"https://acme-{tag}.example" and acme["addresses"][0]["city"] == "Austin"
    assert acme["status_id"] == next(s["id"] for s in api.ok("GET", "/status/lead/")["data"] if s["label"] == "Nurture")
    assert sorted(c["name"] for c in acme["contacts"]) == ["Ann Lee", "Bob Ray"]
    ann = next(c for c in acme["contacts"] if c["name"] == "Ann Lee")
    assert ann["title"] == "CEO" and ann["phones"][0]["phone"] == "+15550100001"
    created = api.ok("GET", "/activity/created/", params={"lead_id": acme["id"]})["data"]
    assert {a["source"] for a in created} == {"import"} and len(created) == 3  # the lead and its two contacts
    assert leads_named(api, f"Bad Email {tag}") == [] and leads_named(api, f"Bad Status {tag}") == []
    # The errors download as CSV.
    response = api.get(f"/import/{done['id']}/errors/", headers={"Accept": "text/csv"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert [r["row"] for r in csv.DictReader(io.StringIO(response.text))] == ["4", "5", "8", "9"]


def test_imported_records_read_back_as_single_creates_of_the_same_data_do(api: Api) -> None:
    """An import writes its new records with one statement per table rather than through the ORM's flush:
    they read back as the same data created through the API does (normalized values, custom fields, the
    columns' defaults), the lead's search text knows its contact, the contact's addresses are keyed, and
    each record has its `created` activity, dated as the record."""
    tag = secrets.token_hex(3)
    tier = api.create("custom_field/lead", name=f"Tier {tag}", type="text")
    seat = api.create("custom_field/contact", name=f"Seat{tag}", type="text")
    header = ["Company", "Website", "Industry", "City", "MRR", "Name", "Email", "Phone", "Title", "LinkedIn", "Tier",
              "Seat"]
    row = [f"Same {tag}", f"same-{tag}.example", "Retail", "Lyon", "1200", "Ann Lee", f"Ann@Same-{tag}.example",
           "+1 555 010 0002", "CEO", f"linkedin.example/in/ann-{tag}", "gold", "front"]
    done = run_import(api, to_csv([header, row]), mapping={"Tier": f"lead.custom.{tier['id']}",
                                                           "Seat": f"contact.custom.{seat['name']}"})
    assert done["counts"] == {"created_leads": 1, "created_contacts": 1} and done["failed_rows"] == 0, done
    made = api.create("lead", name=f"Same {tag}", url=f"https://same-{tag}.example", industry="Retail",
                      addresses=[{"city": "Lyon"}], mrr=1200, custom={tier["id"]: "gold"})
    api.create("contact", lead_id=made["id"], name="Ann Lee", emails=[{"email": f"Ann@Same-{tag}.example"}],
               phones=[{"phone": "+1 555 010 0002"}], title="CEO", urls=[{"url": f"https://linkedin.example/in/ann-{tag}"}],
               custom={seat["id"]: "front"})
    [imported] = [lead for lead in leads_named(api, f"Same {tag}") if lead["id"] != made["id"]]

    def shown(lead: dict[str, Any]) -> dict[str, Any]:
        lead = api.ok("GET", f"/lead/{lead['id']}/")
        skip = {"id", "lead_id", "date_created", "date_updated"}
        return {**{k: v for k, v in lead.items() if k not in skip},
                "contacts": [{k: v for k, v in c.items() if k not in skip} for c in lead["contacts"]]}

    assert shown(imported) == shown(made)
    assert shown(imported)["custom"] == {tier["name"]: "gold"}
    for text in (f"ann@same-{tag}.example", "+15550100002", "ann lee"):  # the search text knows the contact
        assert imported["id"] in [lead["id"] for lead in api.ok("GET", "/lead/", params={"query": text})["data"]]
    [contact] = api.ok("GET", "/contact/", params={"lead_id": imported["id"]})["data"]
    assert [c["id"] for c in api.ok("GET", "/contact/", params={"email": f"ANN@same-{tag}.example"})["data"]
            if c["lead_id"] == imported["id"]] == [contact["id"]]  # contact_key, kept by the trigger
    created = api.ok("GET", "/activity/created/", params={"lead_id": imported["id"]})["data"]
    assert sorted((a["object_type"], a["object_id"], a["source"], a["activity_at"]) for a in created) == sorted([
        ("contact", contact["id"], "import", contact["date_created"]),
        ("lead", imported["id"], "import", imported["date_created"])])


def test_duplicates_are_updated_or_skipped_as_asked(api: Api) -> None:
    tag = secrets.token_hex(3)
    lead = make_lead(api, name=f"Known {tag}", url=f"https://www.known-{tag}.example/")
    contact = make_contact(api, lead_id=lead["id"], name="Kim", emails=[{"email": f"kim@known-{tag}.example"}])
    header = ["lead.name", "lead.url", "lead.industry", "contact.name", "contact.email", "contact.title"]
    rows = [header,
            [f"Known {tag}", f"known-{tag}.example", "Software", "Kim", f"KIM@known-{tag}.example", "Founder"],
            [f"Known Inc {tag}", f"http://known-{tag}.example", "", "Lou", f"lou@known-{tag}.example", ""]]

    skipped = run_import(api, to_csv(rows), dedupe="skip")
    assert skipped["counts"] == {"skipped_rows": 1, "created_contacts": 1}, skipped  # Lou joins the known lead
    assert api.ok("GET", f"/contact/{contact['id']}/")["title"] is None
    assert api.ok("GET", f"/lead/{lead['id']}/")["industry"] is None
    assert len(api.ok("GET", f"/lead/{lead['id']}/")["contacts"]) == 2

    updated = run_import(api, to_csv(rows), dedupe="update")
    assert updated["counts"] == {"updated_leads": 1, "updated_contacts": 1}, updated  # Lou is known now too
    assert api.ok("GET", f"/contact/{contact['id']}/")["title"] == "Founder"
    after = api.ok("GET", f"/lead/{lead['id']}/")
    assert after["industry"] == "Software" and after["name"] == f"Known {tag}" and len(after["contacts"]) == 2

    again = run_import(api, to_csv(rows[:2]), dedupe="none")
    assert again["counts"] == {"created_leads": 1, "created_contacts": 1}
    assert len(leads_named(api, f"Known {tag}")) == 2


def test_duplicates_across_batches_and_of_the_workspace_are_found_in_the_database(api: Api) -> None:
    """Deduplication reads the database for each batch of 1,000 rows: a company's rows in different batches
    (by name, or by domain however the URL is written) go on one lead, and existing records are found by
    any of a contact's addresses and by the domain of a lead's URL with a path."""
    tag = secrets.token_hex(3)
    kim = make_contact(api, name="Kim", emails=[{"email": f"kim@known-{tag}.example"}])
    api.ok("PUT", f"/contact/{kim['id']}/", json={"emails": [{"email": f"kim@known-{tag}.example"},  # by trigger
                                                             {"email": f"second@known-{tag}.example"}]})
    shop = make_lead(api, name=f"Shop {tag}", url=f"https://www.Shop-{tag}.example/about")
    rows = [["Company", "Website", "Name", "Email", "Title", "Industry"],
            [f"Far Co {tag}", "", "Ann", f"ann@far-{tag}.example", "", ""],
            [f"Site {tag}", f"site-{tag}.example", "Cy", f"cy@site-{tag}.example", "", ""]]
    rows += [[f"F{i} {tag}", "", "", "", "", ""] for i in range(1498)]
    rows += [[f"Other {tag}", f"http://www.SITE-{tag}.example/x", "Di", f"di@site-{tag}.example", "", ""],  # batch 2
             [f"Anything {tag}", "", "Kim", f"Second@known-{tag}.example", "CFO", ""],
             [f"Shop Name {tag}", f"shop-{tag}.example", "", "", "", "Retail"]]
    rows += [[f"G{i} {tag}", "", "", "", "", ""] for i in range(547)]
    rows += [[f"FAR CO {tag}", "", "Bo", f"bo@far-{tag}.example", "", ""]]  # batch 3
    done = run_import(api, to_csv(rows))
    assert done["total_rows"] == 2051 and done["failed_rows"] == 0, done
    assert done["counts"] == {"created_leads": 2 + 1498 + 547, "created_contacts": 4, "updated_contacts": 1,
                              "updated_leads": 1}, done
    [far] = leads_named(api, f"Far Co {tag}")
    assert sorted(c["name"] for c in far["contacts"]) == ["Ann", "Bo"] and leads_named(api, f"FAR CO {tag}") == []
    [site] = leads_named(api, f"Site {tag}")
    assert sorted(c["name"] for c in site["contacts"]) == ["Cy", "Di"] and leads_named(api, f"Other {tag}") == []
    assert api.ok("GET", f"/contact/{kim['id']}/")["title"] == "CFO"
    assert api.ok("GET", f"/lead/{shop['id']}/")["industry"] == "Retail" and leads_named(api, f"Shop Name {tag}") == []


def test_a_dry_run_reports_what_would_happen_and_changes_nothing(api: Api) -> None:
    tag = secrets.token_hex(3)
    before = api.ok("GET", "/lead/", params={"_limit": 200})["data"]
    rows = [["Company", "Email"], [f"Dry {tag}", f"a@dry-{tag}.example"], [f"Dry {tag}", f"b@dry-{tag}.example"],
            [f"Dry {tag}", "broken"]]
    done = run_import(api, to_csv(rows), dry_run=True)
    assert done["dry_run"] and done["counts"] == {"created_leads": 1, "created_contacts": 2}
    assert done["failed_rows"] == 1 and errors(api, done["id"])[0]["row"] == 4
    assert api.ok("GET", "/lead/", params={"_limit": 200})["data"] == before


def test_the_request_is_checked_before_anything_runs(api: Api) -> None:
    api.bad("POST", "/import/", "content", json={"content": ""})
    api.bad("POST", "/import/", "content", json={"content": "a,a\n1,2\n"})  # a column named twice
    api.bad("POST", "/import/", "mapping.Nope", json={"content": "Company\nAcme\n", "mapping": {"Nope": "lead.name"}})
    api.bad("POST", "/import/", "mapping.Company", json={"content": "Company\nAcme\n", "mapping": {"Company": "lead.colour"}})
    api.bad("POST", "/import/", "mapping", json={"content": "Colour\nred\n"})  # nothing maps
    api.bad("POST", "/import/", "format", json={"content": "Company\nAcme\n", "format": "xlsx"})
    api.bad("POST", "/import/", "dedupe", json={"content": "Company\nAcme\n", "dedupe": "merge"})
    api.bad("POST", "/import/", "content", json={"content": "[1, 2]\n", "format": "jsonl"})


def test_json_lines_and_several_chunks(api: Api) -> None:
    tag = secrets.token_hex(3)
    lines = [json.dumps({"lead.name": f"J{i} {tag}", "contact.email": [f"p{i}@j-{tag}.example"],
                         "lead.url": f"https://j{i}-{tag}.example"}) for i in range(2500)]
    lines.insert(1200, "{not json")
    done = run_import(api, "\n".join(lines) + "\n", format="jsonl")
    assert done["total_rows"] == 2501 and done["processed_rows"] == 2501, done  # three chunks of 1,000
    assert done["counts"] == {"created_leads": 2500, "created_contacts": 2500}
    assert [(e["row"], e["reason"][:8]) for e in errors(api, done["id"])] == [(1202, "not JSON")]
    assert len(api.ok("GET", "/contact/", params={"email": f"p2499@j-{tag}.example"})["data"]) == 1


def test_a_row_the_database_refuses_fails_alone(api: Api) -> None:
    tag = secrets.token_hex(3)
    rows = [["Company", "Name"], [f"Ok1 {tag}", "A"], [f"Refused {tag}", "FAIL-IMPORT"], [f"Ok2 {tag}", "B"]]
    with failing(api.database_url, "contact", "INSERT", "NEW.name = 'FAIL-IMPORT'"):
        done = run_import(api, to_csv(rows))
    assert done["status"] == "succeeded" and done["counts"] == {"created_leads": 2, "created_contacts": 2}, done
    assert [e["row"] for e in errors(api, done["id"])] == [3]
    assert "refused" in errors(api, done["id"])[0]["reason"]
    assert leads_named(api, f"Refused {tag}") == []  # its lead was undone with it
    assert len(leads_named(api, f"Ok2 {tag}")) == 1


def test_imports_belong_to_their_workspace(api: Api, other: Api) -> None:
    done = run_import(api, to_csv([["Company"], [f"Mine {secrets.token_hex(3)}"]]))
    other.bad("GET", f"/import/{done['id']}/", status=404)
    other.bad("GET", f"/import/{done['id']}/errors/", status=404)
    assert done["id"] not in {i["id"] for i in other.ok("GET", "/import/")["data"]}
    api.ok("DELETE", f"/import/{done['id']}/")
    api.bad("GET", f"/import/{done['id']}/", status=404)



# --- export ----------------------------------------------------------------------------------------------
def run_export(api: Api, **body: Any) -> tuple[dict[str, Any], str]:
    started = api.ok("POST", "/export/", json=body)
    done = wait_until(lambda: (now := api.ok("GET", f"/export/{started['id']}/"))["status"] in ("succeeded", "failed")
                      and now, timeout=60, what="the export to finish")
    assert done["status"] == "succeeded", done
    response = api.get(done["download_url"].removeprefix("/api/v1"))
    assert response.status_code == 200, response.text
    return done, response.text


def people(api: Api) -> list[tuple[Any, ...]]:
    """Every contact with its lead, as comparable values (no IDs)."""
    leads = {lead["id"]: lead for lead in api.ok("GET", "/lead/", params={"_limit": 200})["data"]}
    return sorted((c["name"], c["title"], tuple(e["email"] for e in c["emails"]), tuple(p["phone"] for p in c["phones"]),
                   leads[c["lead_id"]]["name"], leads[c["lead_id"]]["url"], leads[c["lead_id"]]["industry"])
                  for c in api.ok("GET", "/contact/", params={"_limit": 200})["data"])


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_an_export_imports_back_as_it_was(api: Api, other: Api, fmt: str) -> None:
    for i in range(3):
        lead = make_lead(api, name=f"Round {i}", url=f"https://round{i}.example", industry="Tools",
                         addresses=[{"city": "Lyon", "country": "FR"}])
        make_contact(api, lead_id=lead["id"], name=f"P{i}", title="Boss", phones=[{"phone": f"+3314000000{i}"}],
                     emails=[{"email": f"p{i}@round{i}.example"}, {"email": f"p{i}.alt@round{i}.example"}])
    make_contact(api, lead_id=lead["id"], name="Second", emails=[{"email": "second@round2.example"}])
    done, text = run_export(api, resource="contact", format=fmt)
    assert done["rows"] == 4 and done["size_bytes"] == len(text.encode())
    imported = run_import(other, text, format=fmt)
    assert imported["failed_rows"] == 0, errors(other, imported["id"])
    assert imported["counts"] == {"created_leads": 3, "created_contacts": 4}
    assert people(other) == people(api)


def test_exports_are_filtered_like_lists(api: Api, other: Api) -> None:
    qualified = next(s["id"] for s in api.ok("GET", "/status/lead/")["data"] if s["label"] == "Qualified")
    make_lead(api, name="Hot", status_id=qualified)
    make_lead(api, name="Cold")
    _, text = run_export(api, resource="lead", filters={"status_id": qualified})
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["lead.name"], r["lead.status"]) for r in rows] == [("Hot", "Qualified")]
    api.bad("POST", "/export/", "filters.colour", json={"resource": "lead", "filters": {"colour": "red"}})
    api.bad("POST", "/export/", "resource", json={"resource": "task"})
    started = api.ok("POST", "/export/", json={"resource": "opportunity"})
    other.bad("GET", f"/export/{started['id']}/", status=404)
    other.bad("GET", f"/export/{started['id']}/download/", status=404)


def test_the_command_line_imports_and_exports(api: Api, server: Server, tmp_path: Any) -> None:
    tag = secrets.token_hex(3)
    source = tmp_path / "people.csv"
    source.write_text(to_csv([["Company", "Email", "Name"], [f"Cli {tag}", f"a@cli-{tag}.example", "Ann"],
                              [f"Cli {tag}", "nope", "Bad"]]))
    env = {**os.environ, "GENIZIZ_DATABASE_URL": server.database_url}
    result = subprocess.run([sys.executable, "-m", "geniziz.cli", "import", str(source), "--workspace", api.org_id,
                             "--errors", str(tmp_path / "errors.csv")], capture_output=True, text=True, env=env,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["counts"] == {"created_leads": 1, "created_contacts": 1} and summary["failed_rows"] == 1
    assert list(csv.reader((tmp_path / "errors.csv").open()))[1][:2] == ["3", "contact.emails"]
    [lead] = leads_named(api, f"Cli {tag}")
    exported = subprocess.run([sys.executable, "-m", "geniziz.cli", "export", "contact", "--workspace", api.org_id,
                               "--format", "jsonl"], capture_output=True, text=True, env=env, timeout=120)
    assert exported.returncode == 0, exported.stderr
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [(r["contact.name"], r["lead.id"]) for r in rows] == [("Ann", lead["id"])]


# --- bulk actions ---------------------------------------------------------------------------------------
def run_bulk(api: Api, **body: Any) -> dict[str, Any]:
    started = api.ok("POST", "/bulk_action/", json=body)
    return wait_until(lambda: (now := api.ok("GET", f"/bulk_action/{started['id']}/"))["status"] in
                      ("succeeded", "failed") and now, timeout=120, what="the bulk action to finish")


def test_bulk_edits_and_deletes_over_a_filter_or_ids_as_single_edits_would(api: Api, other: Api) -> None:
    qualified = next(s["id"] for s in api.ok("GET", "/status/lead/")["data"] if s["label"] == "Qualified")
    customer = next(s["id"] for s in api.ok("GET", "/status/lead/")["data"] if s["label"] == "Customer")
    tag = secrets.token_hex(3)
    leads = [make_lead(api, name=f"Bulk {tag} {i}", status_id=qualified) for i in range(5)]
    untouched = make_lead(api, name=f"Other {tag}")
    done = run_bulk(api, resource="lead", action="update", filters={"status_id": qualified},
                    changes={"status_id": customer, "owner_id": api.user_id})
    assert done["total"] == 5 and done["processed"] == 5 and done["succeeded"] == 5 and done["failed"] == 0, done
    for lead in leads:
        after = api.ok("GET", f"/lead/{lead['id']}/")
        assert after["status_id"] == customer and after["owner_id"] == api.user_id
        changes = api.ok("GET", "/activity/status_change/lead/", params={"lead_id": lead["id"]})["data"]
        assert [(c["old_status_id"], c["new_status_id"]) for c in changes] == [(qualified, customer)]
    assert api.ok("GET", f"/lead/{untouched['id']}/")["owner_id"] is None
    # By IDs: one of another workspace fails alone, with why; the others are deleted.
    theirs = make_lead(other)
    gone = run_bulk(api, resource="lead", action="delete", ids=[leads[0]["id"], theirs["id"], leads[1]["id"]])
    assert gone["total"] == 2 and gone["succeeded"] == 2 and gone["failed"] == 0, gone  # B's lead is not among them
    api.bad("GET", f"/lead/{leads[0]['id']}/", status=404)
    assert other.ok("GET", f"/lead/{theirs['id']}/")["id"] == theirs["id"]
    # A change one record refuses fails for it alone, with why.
    deals = [make_opportunity(api, lead_id=leads[2]["id"]) for _ in range(3)]
    api.ok("POST", f"/opportunity/{deals[1]['id']}/line_item/", json={"name": "Seat", "unit_price": 700})
    mixed = run_bulk(api, resource="opportunity", action="update", ids=[d["id"] for d in deals], changes={"value": 500})
    assert (mixed["succeeded"], mixed["failed"]) == (2, 1) and mixed["failures"][0]["id"] == deals[1]["id"]
    assert "line items" in mixed["failures"][0]["error"]
    assert [api.ok("GET", f"/opportunity/{d['id']}/")["value"] for d in deals] == [500, 700, 500]


def test_a_bulk_request_is_checked_before_anything_runs(api: Api) -> None:
    api.bad("POST", "/bulk_action/", "changes.status_id", json={"resource": "lead", "action": "update", "all": True,
                                                                "changes": {"status_id": None}})
    api.bad("POST", "/bulk_action/", "changes.colour", json={"resource": "lead", "action": "update", "all": True,
                                                             "changes": {"colour": "red"}})
    api.bad("POST", "/bulk_action/", "changes", json={"resource": "lead", "action": "update", "all": True})
    api.bad("POST", "/bulk_action/", "filters", json={"resource": "lead", "action": "delete"})
    api.bad("POST", "/bulk_action/", "filters.colour", json={"resource": "lead", "action": "delete",
                                                             "filters": {"colour": "red"}})
    api.bad("POST", "/bulk_action/", "resource", json={"resource": "status", "action": "delete", "all": True})
