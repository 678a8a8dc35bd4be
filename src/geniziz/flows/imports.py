"""Importing leads and contacts from CSV or JSON lines.

A file becomes rows of {column: value}; a mapping (guessed from the header, overridable) says which
field each column fills (``lead.name``, ``contact.email``, ``lead.custom.<key>``...; None ignores it).
Each row gives a lead body and a contact body, validated by the same schemas as POST /lead/ and
POST /contact/ (so the same rules and messages), then:
- deduplication (``dedupe``): a row whose contact email is a contact's, or whose lead URL has the
  domain of a lead's, names that record: ``update`` fills it in (lists united), ``skip`` leaves it
  (a new contact still joins a lead found by domain), ``none`` always creates; rows of one file that
  name the same lead (same domain, else same name) go on one lead;
- a row that fails gets an error with its row number and reason, and the others are kept: each row
  is written in a savepoint;
- rows are written in batches; each batch commits with the import's progress (``processed_rows``),
  so a crashed job resumes after the last batch committed and no row is imported twice.
A dry run does all of it in savepoints it rolls back, and reports what would have happened.
Created records go through the services' own ``new``/``apply`` and emit the same events as a single
create (their ``created`` activity says ``import``), announced for the whole batch at once
(``events.emit_many``: a handler with a batch form queries once per batch, not once per record); they are
written with one multi-row insert per table (``db.insert_records``), not one by one by the unit of work.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError
from sqlalchemy import bindparam, delete, select, text, update
from sqlalchemy.exc import DBAPIError

from geniziz import events
from geniziz.api.context import Ctx
from geniziz.api.errors import APIError, field_error, validation_field_errors
from geniziz.api.resource import CrudService
from geniziz.contacts.models import Contact
from geniziz.contacts.schemas import ContactCreate
from geniziz.contacts.service import ContactService
from geniziz.db import UTCDateTime, insert_records, new_id, utcnow
from geniziz.identity.models import Membership
from geniziz.leads.models import Lead
from geniziz.leads.schemas import LeadCreate
from geniziz.leads.service import LeadService, refresh_search_text, search_text
from geniziz.flows.merge import unite
from geniziz.flows.models import DataImport, DataImportChunk, DataImportError
from geniziz.worker.registry import enqueue
from geniziz.statuses.models import Status

CHUNK_ROWS = 1000  # rows per stored chunk and per committed batch
LOOKUP_KEYS = 500  # keys per deduplication query
MAX_COLUMNS = 200

# Deduplication's look-ups, by index: a contact's addresses (`contact_key`, migration 0020, kept by triggers
# on contact), and (migration 0021) a lead's site (its URL without scheme and "www.", lower-cased: the text of the
# index's expression, which SQLite uses only for the same expression; compared bytewise, "C" on PostgreSQL)
# and a lead's lower-cased name. The keys come as a JSON array joined to the table, one index probe per key
# (LATERAL on PostgreSQL). SQL of our own: scoped by hand (organization_id = :org).
SITE_SQL = ("CASE WHEN lower(url) LIKE 'https://www.%' THEN substr(lower(url), 13) "
            "WHEN lower(url) LIKE 'http://www.%' THEN substr(lower(url), 12) "
            "WHEN lower(url) LIKE 'https://%' THEN substr(lower(url), 9) "
            "WHEN lower(url) LIKE 'http://%' THEN substr(lower(url), 8) "
            "WHEN lower(url) LIKE 'www.%' THEN substr(lower(url), 5) ELSE lower(url) END")
LAST_CHAR = "\U0010ffff"  # every site that starts with a domain sorts before domain + LAST_CHAR
_PG_KEYS = "json_array_elements_text(CAST(:keys AS json)) AS r(key) CROSS JOIN LATERAL"
LOOKUPS = {
    "postgresql": {
        # OFFSET 0 here too: merged, the planner (no statistics on tables an import is filling) read every email
        # key of the workspace per batch (the million-row import slowed from 2,000 to 1,000 rows/s by 400,000).
        "emails": text(f"""SELECT f.email, f.id, f.lead_id FROM {_PG_KEYS} (SELECT k.value AS email, c.id, c.lead_id
            FROM contact_key k JOIN contact c ON c.id = k.contact_id
            WHERE k.kind = 'email' AND k.value = r.key AND k.organization_id = :org OFFSET 0) AS f ORDER BY f.id"""),
        # Leads: the workspace is filtered after the index probe (OFFSET 0 keeps the planner from merging
        # the two). Given both conditions, a planner without statistics yet (a table an import is filling)
        # picked a workspace index instead, and read the whole workspace once per key or per batch.
        "sites": text(f"""SELECT f.id, f.url FROM {_PG_KEYS} (SELECT lead.id, lead.url, lead.organization_id
            FROM lead WHERE ({SITE_SQL}) COLLATE "C" >= r.key AND ({SITE_SQL}) COLLATE "C" < r.key || :last
            OFFSET 0) AS f WHERE f.organization_id = :org ORDER BY f.id"""),
        "names": text(f"""SELECT f.id, f.name FROM {_PG_KEYS} (SELECT lead.id, lead.name, lead.organization_id,
            lead.created_by, lead.date_created FROM lead WHERE lower(lead.name) = r.key OFFSET 0) AS f
            WHERE f.organization_id = :org AND f.created_by = :user AND f.date_created >= :since ORDER BY f.id"""),
    },
    # SQLite keeps no statistics (the app never runs ANALYZE): the keys are the outer loop (CROSS JOIN) and
    # the index is named, else it may walk the workspace by ix_lead_org_id once per key.
    "sqlite": {
        "emails": text("""SELECT k.value AS email, c.id, c.lead_id FROM json_each(:keys) AS r
            CROSS JOIN contact_key AS k JOIN contact c ON c.id = k.contact_id
            WHERE k.kind = 'email' AND k.value = r.value AND k.organization_id = :org ORDER BY c.id"""),
        "sites": text(f"""SELECT lead.id, lead.url FROM json_each(:keys) AS r CROSS JOIN lead INDEXED BY ix_lead_site
            WHERE lead.organization_id = :org AND ({SITE_SQL}) >= r.value AND ({SITE_SQL}) < r.value || :last
            ORDER BY lead.id"""),
        "names": text("""SELECT lead.id, lead.name FROM json_each(:keys) AS r CROSS JOIN lead INDEXED BY ix_lead_lower_name
            WHERE lead.organization_id = :org AND lower(lead.name) = r.value AND lead.created_by = :user
            AND lead.date_created >= :since ORDER BY lead.id"""),
    },
}
for _queries in LOOKUPS.values():  # stored as the column stores it (UTCDateTime), so that they compare
    _queries["names"] = _queries["names"].bindparams(bindparam("since", type_=UTCDateTime()))


LEAD_FIELDS = ("name", "url", "description", "industry", "status", "owner", "mrr", "email", "phone",
               "address_1", "address_2", "city", "state", "zipcode", "country")
CONTACT_FIELDS = ("name", "first_name", "last_name", "title", "email", "phone", "url")
TARGETS = frozenset([f"lead.{f}" for f in LEAD_FIELDS] + [f"contact.{f}" for f in CONTACT_FIELDS])
CUSTOM = re.compile(r"^(lead|contact)\.custom\.[\w.-]{1,100}$")

# Header words -> field, compared without case, spaces, dashes or underscores.
GUESSES = {
    "lead.name": ("company", "companyname", "organization", "organisation", "account", "accountname", "leadname",
                  "lead", "business"),
    "lead.url": ("website", "url", "domain", "companywebsite", "companyurl", "companydomain", "web", "leadurl"),
    "lead.description": ("description", "about", "companydescription", "leaddescription"),
    "lead.industry": ("industry", "sector", "vertical"),
    "lead.status": ("status", "leadstatus", "stage"),
    "lead.owner": ("owner", "owneremail", "leadowner", "accountowner"),
    "lead.mrr": ("mrr", "monthlyrevenue"),
    "lead.email": ("companyemail", "leademail"),
    "lead.phone": ("companyphone", "leadphone", "mainphone"),
    "lead.address_1": ("address", "address1", "street", "streetaddress"),
    "lead.address_2": ("address2",),
    "lead.city": ("city", "town"),
    "lead.state": ("state", "region", "province"),
    "lead.zipcode": ("zip", "zipcode", "postcode", "postalcode"),
    "lead.country": ("country",),
    "contact.name": ("name", "fullname", "contact", "contactname", "person"),
    "contact.first_name": ("firstname", "givenname"),
    "contact.last_name": ("lastname", "surname", "familyname"),
    "contact.title": ("title", "jobtitle", "position", "role", "contacttitle"),
    "contact.email": ("email", "emailaddress", "contactemail", "workemail", "mail"),
    "contact.phone": ("phone", "phonenumber", "contactphone", "mobile", "cell", "telephone", "workphone"),
    "contact.url": ("linkedin", "linkedinurl", "contacturl", "profile"),
}
_WORDS = {word: target for target, words in GUESSES.items() for word in words}


def _squash(name: str) -> str:
    return re.sub(r"[\s_\-.]+", "", name.strip().lower())


def guess_mapping(columns: Iterable[str]) -> dict[str, str | None]:
    """Each column's field: its own name when it is one (an export's header), else a known word."""
    out: dict[str, str | None] = {}
    taken: set[str] = set()
    for column in columns:
        name = column.strip()
        target = name if (name in TARGETS or CUSTOM.match(name)) else _WORDS.get(_squash(name))
        if target in taken:
            target = None  # a second "Email" column is left to the caller to map
        out[column] = target
        if target:
            taken.add(target)
    return out


def check_mapping(columns: list[str], mapping: dict[str, str | None]) -> None:
    errors = {}
    for column, target in mapping.items():
        if column not in columns:
            errors[f"mapping.{column}"] = "not a column of the file"
        elif target is not None and target not in TARGETS and not CUSTOM.match(target):
            errors[f"mapping.{column}"] = f"unknown field; one of: {', '.join(sorted(TARGETS))}, lead.custom.<key>, " \
                                          "contact.custom.<key>, or null to ignore the column"
    targets = [t for t in mapping.values() if t]
    for target in {t for t in targets if targets.count(t) > 1}:
        column = next(c for c, t in mapping.items() if t == target)
        errors.setdefault(f"mapping.{column}", f"{target} is mapped from more than one column")
    if errors:
        raise APIError(400, "Invalid mapping: " + ", ".join(sorted(errors)), errors)


# --- reading files -------------------------------------------------------------------------------------------
class FileError(ValueError):
    """The file as a whole cannot be read."""


def read_rows(lines: Iterable[str], fmt: str) -> tuple[list[str], Iterator[tuple[int, dict[str, Any] | str]]]:
    """The columns, and the rows as (spreadsheet row number, {column: value} or why the row is unreadable).
    Streams: one row in memory at a time."""
    if fmt == "csv":
        reader = csv.reader(lines)
        try:
            header = next(reader)
        except StopIteration:
            raise FileError("the file is empty") from None
        except csv.Error as exc:
            raise FileError(f"unreadable header: {exc}") from None
        columns = [c.strip().lstrip("\ufeff") for c in header]
        if not any(columns) or len(columns) > MAX_COLUMNS or len(set(columns)) != len(columns):
            raise FileError(f"the header must name up to {MAX_COLUMNS} distinct columns")

        def csv_rows() -> Iterator[tuple[int, dict[str, Any] | str]]:
            number = 1
            while True:
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    number += 1
                    yield number, f"unreadable CSV: {exc}"
                    continue
                number += 1
                if not any(c.strip() for c in cells):
                    continue  # a blank line
                if len(cells) > len(columns) and any(c.strip() for c in cells[len(columns):]):
                    yield number, f"{len(cells)} cells for {len(columns)} columns"
                    continue
                yield number, dict(zip(columns, cells, strict=False))

        return columns, csv_rows()
    if fmt == "jsonl":
        iterator = iter(lines)
        first: list[tuple[int, dict[str, Any] | str]] = []
        columns: list[str] = []
        number = 1  # no header: the first line is row 2, as a spreadsheet of it would number it
        for line in iterator:  # the columns are the first object's keys: name the same ones on every line
            number += 1
            if line.strip():
                row = _json_row(line)
                first.append((number, row))
                if isinstance(row, dict):
                    columns = list(row)
                    break
        if not columns:
            raise FileError("no JSON object in the file")

        def json_rows() -> Iterator[tuple[int, dict[str, Any] | str]]:
            yield from first
            n = number
            for line in iterator:
                n += 1
                if line.strip():
                    yield n, _json_row(line)

        return columns, json_rows()
    raise FileError("format must be csv or jsonl")


def _json_row(line: str) -> dict[str, Any] | str:
    try:
        value = json.loads(line)
    except ValueError as exc:
        return f"not JSON: {exc}"
    return value if isinstance(value, dict) else "not a JSON object"


# --- a row as lead and contact bodies ---------------------------------------------------------------------------
_SPLIT = re.compile(r"[,;\n]+")


def _values(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if v is not None and str(v).strip()]
    return [v.strip() for v in _SPLIT.split(str(value)) if v.strip()]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value) if isinstance(value, (dict, list)) else str(value)
    return text.strip() or None


def web_url(value: str) -> str:
    return value if re.match(r"(?i)^https?://", value) else f"https://{value}"


def domain(url: str | None) -> str | None:
    if not url:
        return None
    try:
        host = urlsplit(web_url(url.strip())).hostname
    except ValueError:
        return None
    return host.lower().removeprefix("www.") if host else None


@dataclass
class Row:
    number: int
    lead: dict[str, Any]
    contact: dict[str, Any]
    lead_custom: dict[str, Any] = field(default_factory=dict)
    contact_custom: dict[str, Any] = field(default_factory=dict)
    status_label: str | None = None
    owner_email: str | None = None


def to_row(number: int, values: dict[str, Any], mapping: dict[str, str | None]) -> Row:
    row = Row(number, {}, {})
    first = last = None
    address: dict[str, str] = {}
    for column, target in mapping.items():
        if not target or column not in values:
            continue
        value = values[column]
        kind, _, name = target.partition(".")
        if name.startswith("custom."):
            if value not in (None, ""):
                (row.lead_custom if kind == "lead" else row.contact_custom)[name.removeprefix("custom.")] = value
            continue
        text = _text(value)
        if text is None:
            continue
        body = row.lead if kind == "lead" else row.contact
        if name == "email":
            body["emails"] = [{"email": v} for v in _values(value)]
        elif name == "phone":
            body["phones"] = [{"phone": v} for v in _values(value)]
        elif name == "url" and kind == "contact":
            body["urls"] = [{"url": web_url(v)} for v in _values(value)]
        elif name == "url":
            body["url"] = web_url(text)
        elif name in ("address_1", "address_2", "city", "state", "zipcode", "country"):
            address[name] = text
        elif name == "status":
            row.status_label = text
        elif name == "owner":
            row.owner_email = text.lower()
        elif name == "mrr":
            body["mrr"] = _cents(text)
        elif name == "first_name":
            first = text
        elif name == "last_name":
            last = text
        else:
            body[name] = text
    if address:
        row.lead["addresses"] = [address]
    if (first or last) and "name" not in row.contact:
        row.contact["name"] = " ".join(p for p in (first, last) if p)
    return row


def _cents(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        return text  # the schema names the field


# --- the batch -------------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[tuple[int, str | None, str]] = field(default_factory=list)  # (row, field, reason)

    def add(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def merge(self, other: Outcome) -> None:
        for name, n in other.counts.items():
            self.add(name, n)
        self.errors += other.errors


def _fill(mine: dict[str, Any], theirs: dict[str, Any]) -> None:
    """A planned lead takes a later row's values where it has none; lists are united."""
    for name, value in theirs.items():
        current = mine.get(name)
        if isinstance(current, list) and isinstance(value, list):
            mine[name] = unite(current, value)
        elif current in (None, "", [], {}):
            mine[name] = value


@dataclass
class Checked:
    """A batch's rows validated: (row, lead body, contact body or None), and the rows refused."""

    valid: list[tuple[int, dict[str, Any], dict[str, Any] | None]] = field(default_factory=list)
    errors: list[tuple[int, str | None, str]] = field(default_factory=list)


@dataclass
class Plan:
    """What one row will do: create a lead and/or a contact (IDs chosen now, so later rows can name
    them), update ones that exist, or nothing (skipped)."""

    number: int
    new_lead: dict[str, Any] | None = None
    new_contact: dict[str, Any] | None = None
    lead_update: tuple[str, dict[str, Any]] | None = None
    contact_update: tuple[str, dict[str, Any]] | None = None
    skipped: bool = False


class RowError(Exception):
    def __init__(self, field: str | None, reason: str) -> None:
        super().__init__(reason)
        self.field, self.reason = field, reason


@dataclass
class Importer:
    """One import's state across batches: the options, and what it has seen (for in-file duplicates)."""

    ctx: Ctx
    mapping: dict[str, str | None]
    dedupe: str = "update"  # update | skip | none
    dry_run: bool = False
    since: datetime | None = None  # when the import began: its own leads are those its user created since
    statuses: dict[str, str] = field(default_factory=dict)  # lower label -> lead status ID
    default_status: str | None = None
    members: dict[str, str] = field(default_factory=dict)  # lower email -> user ID
    # What the current batch's rows name, read from the database for each batch (a dry run, whose records
    # are rolled back, keeps them across batches):
    leads_by_key: dict[str, str] = field(default_factory=dict)  # domain (any lead) or name (this file's) -> lead ID
    emails: dict[str, tuple[str, str]] = field(default_factory=dict)  # contact email -> (contact ID, lead ID)
    has_custom: dict[str, bool] = field(default_factory=dict)
    # What the current row adds to the maps above, kept only if the row succeeds.
    pending: list[tuple[dict[str, Any], str, Any]] = field(default_factory=list)
    virtual: set[str] = field(default_factory=set)  # a dry run's records: rolled back, still named by later rows
    planned: dict[str, dict[str, Any]] = field(default_factory=dict)  # this batch's new leads, by ID

    async def prepare(self) -> None:
        rows = (await self.ctx.session.execute(select(Status.id, Status.label).where(Status.kind == "lead")
                                               .order_by(Status.id))).all()
        self.statuses = {}
        for status_id, label in rows:
            self.statuses.setdefault(label.lower(), status_id)
        self.default_status = rows[0][0] if rows else None
        self.members = {m.user.email.lower(): m.user_id for m in await self.ctx.session.scalars(select(Membership))}
        self.has_custom = {"lead": "custom" in LeadCreate.model_fields, "contact": "custom" in ContactCreate.model_fields}
        self.since = self.since or utcnow()

    async def _look_up(self, rows: list[tuple[int, dict[str, Any], dict[str, Any] | None]]) -> None:
        """The records this batch's rows name, by index (migration 0021), a few queries per batch: contacts
        by email, leads by domain, and this import's leads by name (those of earlier batches are committed,
        so the database knows them). Only these keys are kept: memory does not grow with the workspace or
        the file."""
        session = self.ctx.session
        emails = {e["email"].lower() for _, _, contact in rows if contact for e in contact.get("emails") or []}
        domains = {found for _, lead, _ in rows if (found := domain(lead.get("url")))}
        names = {lead["name"].strip().lower() for _, lead, _ in rows}
        emails -= self.emails.keys()
        domains -= {key.removeprefix("domain:") for key in self.leads_by_key}
        names -= {key.removeprefix("name:") for key in self.leads_by_key}
        queries = LOOKUPS[session.bind.dialect.name]
        for part in _slices(sorted(emails)):
            for email, contact_id, lead_id in await session.execute(
                    queries["emails"], {"org": self.ctx.org_id, "keys": json.dumps(part)}):
                self.emails.setdefault(email, (contact_id, lead_id))
        for part in _slices(sorted(domains)):
            wanted = set(part)
            for lead_id, url in await session.execute(
                    queries["sites"], {"org": self.ctx.org_id, "keys": json.dumps(part), "last": LAST_CHAR}):
                if (key := domain(url)) in wanted:  # a site's range holds acme.example.org too: the domain decides
                    self.leads_by_key.setdefault(f"domain:{key}", lead_id)
        for part in _slices(sorted(names)):
            for lead_id, name in await session.execute(queries["names"], {
                    "org": self.ctx.org_id, "keys": json.dumps(part), "user": self.ctx.user_id, "since": self.since}):
                self.leads_by_key.setdefault(f"name:{name.strip().lower()}", lead_id)

    def check(self, rows: list[tuple[int, dict[str, Any] | str]]) -> Checked:
        """The rows validated, without the database (so a thread may check the next batch while the
        database writes this one)."""
        checked = Checked()
        for number, values in rows:
            try:
                if isinstance(values, str):
                    raise RowError(None, values)
                checked.valid.append((number, *self._validate(to_row(number, values, self.mapping))))
            except RowError as exc:
                checked.errors.append((number, exc.field, exc.reason))
        return checked

    async def batch(self, rows: list[tuple[int, dict[str, Any] | str]], checked: Checked | None = None) -> Outcome:
        """Plan every row (validation and deduplication, in memory), then write the batch's plans in one
        savepoint with one insert per table; if the database refuses any of it, write row by row, each in
        a savepoint of its own, so that only the refused rows fail."""
        checked = checked or self.check(rows)
        outcome = Outcome(errors=list(checked.errors))
        plans: list[Plan] = []
        self.planned = {}
        if not self.dry_run:  # what earlier batches found or wrote, the database now knows
            self.emails, self.leads_by_key = {}, {}
        valid = checked.valid
        if self.dedupe != "none":
            await self._look_up(valid)
        for number, lead_body, contact_body in valid:
            self.pending = []
            plans.append(self._plan(number, lead_body, contact_body))
            if self.dedupe != "none":  # later rows of the batch find this one's records
                for mapping, key, value in self.pending:
                    mapping.setdefault(key, value)
        try:
            done = Outcome()
            async with self.ctx.session.begin_nested() as savepoint:
                await self._write(plans, done)
                if self.dry_run:
                    await savepoint.rollback()
            outcome.merge(done)
        except (APIError, DBAPIError):
            for plan in plans:  # one at a time, to find the rows refused
                done = Outcome()
                try:
                    async with self.ctx.session.begin_nested() as savepoint:
                        await self._write([plan], done)
                        if self.dry_run:
                            await savepoint.rollback()
                except APIError as exc:
                    name = next(iter(exc.field_errors), None)
                    outcome.errors.append((plan.number, name, exc.field_errors.get(name, exc.message) if name
                                           else exc.message))
                    continue
                except DBAPIError as exc:  # a constraint: this row only
                    outcome.errors.append((plan.number, None, "refused by the database: "
                                           + str(exc.orig).splitlines()[0][:300]))
                    continue
                outcome.merge(done)
        if self.dry_run:  # what later batches name, though it was rolled back
            self.virtual.update(p.new_lead["id"] for p in plans if p.new_lead)
            self.virtual.update(p.new_contact["id"] for p in plans if p.new_contact)
        return outcome

    # -- planning one row: validation and deduplication, without the database
    def _body(self, schema: Any, kind: str, body: dict[str, Any], custom: dict[str, Any]) -> dict[str, Any]:
        if custom:
            if not self.has_custom[kind]:
                raise RowError(f"{kind}.custom.{next(iter(custom))}", "custom fields are not available")
            body = {**body, "custom": custom}
        try:
            model = schema.model_validate(body)
            # The fields given, nested values with their defaults (exclude_unset would drop an email's type).
            return model.model_dump(include=model.model_fields_set)
        except ValidationError as exc:
            errors = validation_field_errors(list(exc.errors()))
            name, reason = next(iter(errors.items()))
            raise RowError(f"{kind}.{name.split('.')[0]}", reason) from None

    def _validate(self, row: Row) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The row's lead and contact bodies, validated as POST /lead/ and POST /contact/ would."""
        has_contact = bool(row.contact or row.contact_custom)
        if not row.lead.get("name"):
            row.lead["name"] = (row.contact.get("name") or (row.contact.get("emails") or [{}])[0].get("email")
                                or domain(row.lead.get("url")) or "")
        if not row.lead["name"] and not has_contact:
            raise RowError(None, "nothing to import: no lead name, contact or URL")
        contact_body = self._body(ContactCreate, "contact", row.contact, row.contact_custom) if has_contact else None
        if not row.lead["name"]:
            raise RowError("lead.name", "required: a lead name, a contact name or an email")
        lead_body = self._body(LeadCreate, "lead", row.lead, row.lead_custom)
        if row.status_label:
            if row.status_label.lower() not in self.statuses:
                raise RowError("lead.status", f"no lead status {row.status_label!r} in this workspace")
            lead_body["status_id"] = self.statuses[row.status_label.lower()]
        if row.owner_email:
            if row.owner_email not in self.members:
                raise RowError("lead.owner", f"{row.owner_email} is not a member of this workspace")
            lead_body["owner_id"] = self.members[row.owner_email]
        return lead_body, contact_body

    def _plan(self, number: int, lead_body: dict[str, Any], contact_body: dict[str, Any] | None) -> Plan:
        """Deduplication: what the row will do, given what the batch's look-up and earlier rows found."""
        plan = Plan(number)
        keys = self._lead_keys(lead_body)
        contact = self._contact_by_email(contact_body) if contact_body and self.dedupe != "none" else None
        lead_id = contact[1] if contact else self._lead_by_key(keys)
        if contact is not None:  # the person is known
            if self.dedupe == "skip":
                plan.skipped = True
                return plan
            plan.lead_update, plan.contact_update = (lead_id, lead_body), (contact[0], contact_body)
            self.pending += [(self.leads_by_key, key, lead_id) for key in keys]
            return plan
        if lead_id is not None:
            if self.dedupe == "skip" and not contact_body:
                plan.skipped = True
                return plan
            if lead_id in self.planned:  # created by an earlier row of this batch: filled in before it is written
                _fill(self.planned[lead_id], lead_body)
            elif self.dedupe == "update":
                plan.lead_update = (lead_id, lead_body)
        else:
            lead_id = new_id(LeadService.prefix)
            lead_body.setdefault("status_id", self.default_status)
            plan.new_lead = self.planned[lead_id] = {**lead_body, "id": lead_id}
        self.pending += [(self.leads_by_key, key, lead_id) for key in keys]
        if contact_body:
            plan.new_contact = {**contact_body, "id": new_id(ContactService.prefix), "lead_id": lead_id}
            self.pending += [(self.emails, e["email"].lower(), (plan.new_contact["id"], lead_id))
                             for e in contact_body.get("emails") or []]
        return plan

    def _lead_keys(self, body: dict[str, Any]) -> list[str]:
        keys = [f"name:{body['name'].strip().lower()}"]
        if found := domain(body.get("url")):
            keys.insert(0, f"domain:{found}")
        return keys

    def _lead_by_key(self, keys: list[str]) -> str | None:
        if self.dedupe != "none":
            for key in keys:  # by domain, else by name among this file's leads (a company's contacts on rows of their own)
                if key in self.leads_by_key:
                    return self.leads_by_key[key]
        return None

    def _contact_by_email(self, body: dict[str, Any]) -> tuple[str, str] | None:
        """(contact ID, lead ID) of the contact with one of these emails."""
        for entry in body.get("emails") or []:
            if found := self.emails.get(entry["email"].lower()):
                return found
        return None

    # -- writing plans: the services' own new/apply, one insert per table, the events of a single create
    async def _write(self, plans: list[Plan], outcome: Outcome) -> None:
        ctx, leads, contacts = self.ctx, LeadService(), ContactService()
        now = utcnow()
        new_leads: dict[str, Lead] = {}
        for plan in plans:
            if plan.skipped:
                outcome.add("skipped_rows")
            if plan.new_lead:
                lead = leads.new(ctx)
                body = dict(plan.new_lead)
                lead.id = body.pop("id")
                await leads.apply(ctx, lead, body, creating=True)
                lead.date_created = lead.date_updated = now
                new_leads[lead.id] = lead
        new_contacts: list[Contact] = []
        touched: set[str] = set()  # existing leads that get contacts
        for plan in plans:
            if plan.new_contact:
                body = dict(plan.new_contact)
                if body["lead_id"] in self.virtual:  # a dry run's lead from an earlier batch: nothing to write on
                    outcome.add("created_contacts")
                    continue
                contact = contacts.new(ctx)
                contact.id = body.pop("id")
                await contacts.apply(ctx, contact, body, creating=True)
                contact.date_created = contact.date_updated = now
                new_contacts.append(contact)
                if contact.lead_id not in new_leads:
                    touched.add(contact.lead_id)
        by_lead: dict[str, list[Contact]] = {}
        for contact in new_contacts:
            by_lead.setdefault(contact.lead_id, []).append(contact)
        for lead in new_leads.values():  # its search text knows its contacts, as refresh_search_text would
            lead.search_text = search_text(lead, by_lead.get(lead.id, []))
        await insert_records(ctx.session, new_leads.values())  # leads, then the contacts that refer to them
        await insert_records(ctx.session, new_contacts)
        # lead.created and contact.created, as single creates announce them (their `created` activities),
        # for the batch at once: the handlers' queries and activities are one statement per batch.
        await events.emit_many(ctx, "lead.created", "lead", list(new_leads.values()))
        await events.emit_many(ctx, "contact.created", "contact", new_contacts)
        for name, n in (("created_leads", len(new_leads)), ("created_contacts", len(new_contacts))):
            if n:
                outcome.add(name, n)
        for plan in plans:
            if plan.lead_update:
                await self._update_lead(*plan.lead_update, outcome)
            if plan.contact_update:
                await self._update_contact(*plan.contact_update, outcome)
        for lead_id in sorted(touched):
            await refresh_search_text(ctx, lead_id)
        await ctx.session.flush()

    async def _update_lead(self, lead_id: str, body: dict[str, Any], outcome: Outcome) -> None:
        if lead_id in self.virtual:
            return  # created earlier in this dry run: filled in, as far as a dry run can tell
        lead = await LeadService().get(self.ctx, lead_id, for_update=True)
        changes: dict[str, Any] = {}
        for name, value in body.items():
            current = getattr(lead, name, None)
            if isinstance(current, list) and isinstance(value, list):
                value = unite(current, value)
            elif isinstance(current, dict) and isinstance(value, dict):
                value = {**current, **value}
            same_site = name == "url" and domain(value) == domain(current)  # how it was found: not a change
            if name != "name" and not same_site and value != current:
                changes[name] = value
        if changes:
            await LeadService().update(self.ctx, lead_id, changes)
            outcome.add("updated_leads")

    async def _update_contact(self, contact_id: str, body: dict[str, Any], outcome: Outcome) -> None:
        if contact_id in self.virtual:
            return
        contact = await ContactService().get(self.ctx, contact_id, for_update=True)
        changes: dict[str, Any] = {}
        for name, value in body.items():
            current = getattr(contact, name, None)
            if isinstance(current, list) and isinstance(value, list):
                value = unite(current, value)
            elif isinstance(current, dict) and isinstance(value, dict):
                value = {**current, **value}
            if value != current:
                changes[name] = value
        if changes:
            await ContactService().update(self.ctx, contact.id, changes)
            outcome.add("updated_contacts")


async def batches(rows: Iterator[tuple[int, dict[str, Any] | str]], size: int = CHUNK_ROWS) -> AsyncIterator[list[Any]]:
    batch: list[Any] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


async def checked_batches(importer: Importer,
                          batches: AsyncIterator[list[Any]]) -> AsyncIterator[tuple[list[Any], Checked]]:
    """Each batch of rows with its check; the next batch is checked in a thread while the caller writes
    this one. Checking is this process's work (pydantic, email-validator, phonenumbers), writing waits on
    the database's: on two cores they overlap, where one after the other they added up."""
    batch = await anext(batches, None)
    ahead = asyncio.ensure_future(asyncio.to_thread(importer.check, batch)) if batch is not None else None
    while batch is not None and ahead is not None:
        done = await ahead
        following = await anext(batches, None)
        if following is not None:
            ahead = asyncio.ensure_future(asyncio.to_thread(importer.check, following))
        yield batch, done
        batch = following


def _slices(keys: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(keys), LOOKUP_KEYS):
        yield keys[start:start + LOOKUP_KEYS]


def lines_of(content: str) -> Iterator[str]:
    return iter(io.StringIO(content, newline=""))

# --- the import resource and its job ------------------------------------------------------------------------
IMPORT_JOB = "import.run"


class ImportService(CrudService[DataImport]):
    """POST /import/ stores the file's rows in chunks and enqueues the job, in one transaction."""

    model = DataImport
    prefix = "impt"
    label = "import"

    async def create(self, ctx: Ctx, data: dict[str, Any]) -> DataImport:
        try:
            columns, rows = read_rows(lines_of(data["content"]), data["format"])
        except FileError as exc:
            raise field_error("content", str(exc)) from None
        mapping = {**guess_mapping(columns), **data["mapping"]}
        check_mapping(columns, mapping)
        if not any(mapping.values()):
            raise field_error("mapping", "no column maps to a field: name them in mapping")
        record = self.new(ctx)
        record.format, record.file_name, record.columns, record.mapping = (
            data["format"], data.get("file_name"), columns, mapping)
        record.dedupe, record.dry_run, record.status, record.counts = data["dedupe"], data["dry_run"], "queued", {}
        record.total_rows = record.processed_rows = record.next_chunk = record.failed_rows = 0
        ctx.session.add(record)
        await ctx.session.flush()
        async for seq, batch in _numbered(batches(rows)):
            ctx.session.add(DataImportChunk(id=new_id("impc"), organization_id=ctx.org_id, import_id=record.id,
                                            seq=seq, rows=batch, created_by=ctx.user_id, updated_by=ctx.user_id))
            record.total_rows += len(batch)
            await ctx.session.flush()
        record.job_id = await enqueue(ctx, IMPORT_JOB, {"import_id": record.id}, owner=record,
                                      idempotency_key=f"import:{record.id}")
        await ctx.session.flush()
        return record


async def _numbered(items: AsyncIterator[Any]) -> AsyncIterator[tuple[int, Any]]:
    n = 0
    async for item in items:
        yield n, item
        n += 1


def importer_for(ctx: Ctx, record: DataImport) -> Importer:
    return Importer(Ctx(ctx.session, ctx.principal, "import"), record.mapping, record.dedupe, record.dry_run,
                    since=record.date_created)


async def record_outcome(ctx: Ctx, record: DataImport, outcome: Outcome, rows: int) -> None:
    for row, name, reason in outcome.errors:
        ctx.session.add(DataImportError(id=new_id("impe"), organization_id=ctx.org_id, import_id=record.id, row=row,
                                        field=name, reason=reason[:2000], created_by=ctx.user_id,
                                        updated_by=ctx.user_id))
    counts = dict(record.counts or {})
    for name, n in outcome.counts.items():
        counts[name] = counts.get(name, 0) + n
    record.counts = counts  # a new dict, so the JSON column is seen as changed
    record.failed_rows += len(outcome.errors)
    record.processed_rows += rows
    record.date_updated = utcnow()


async def run_import(ctx: Ctx, import_id: str) -> dict[str, Any]:
    """The job: every chunk from the last one committed, each committed with the import's progress.

    The progress update is conditional on the chunk number read, so if two workers ever ran the same
    import (a lease lost to a stalled worker), the second to commit a chunk finds it done and stops."""
    record = await ctx.session.get(DataImport, import_id)
    if record is None or record.status in ("succeeded", "failed"):
        return {"import_id": import_id, "status": record.status if record else "gone"}
    record.status = "running"
    await ctx.session.commit()
    importer = importer_for(ctx, record)
    await importer.prepare()  # (the worker's start-up set the loaded application aside from the collector)

    async def chunks(seq: int) -> AsyncIterator[list[Any]]:  # read one ahead of the chunk being written
        while (rows := await ctx.session.scalar(select(DataImportChunk.rows).where(
                DataImportChunk.import_id == import_id, DataImportChunk.seq == seq))) is not None:
            yield rows
            seq += 1

    async for rows, check in checked_batches(importer, chunks(record.next_chunk)):
        seq = record.next_chunk
        outcome = await importer.batch(rows, check)
        claimed = await ctx.session.execute(update(DataImport).where(
            DataImport.id == import_id, DataImport.next_chunk == seq).values(next_chunk=seq + 1)
            .execution_options(synchronize_session=False))
        if claimed.rowcount != 1:
            await ctx.session.rollback()
            return {"import_id": import_id, "status": "taken over"}
        record.next_chunk = seq + 1
        await record_outcome(ctx, record, outcome, len(rows))
        await ctx.session.execute(delete(DataImportChunk).where(  # done with: the file's space is given back
            DataImportChunk.import_id == import_id, DataImportChunk.seq == seq))
        await ctx.session.commit()
        ctx.session.expunge_all()  # the batch's records: this session holds one batch at a time
        record = await ctx.session.get(DataImport, import_id)
        assert record is not None
    record.status, record.date_finished = "succeeded", utcnow()
    return {"import_id": import_id, "status": "succeeded", "counts": record.counts, "failed_rows": record.failed_rows}


async def import_errors(ctx: Ctx, import_id: str, limit: int, skip: int) -> dict[str, Any]:
    await ImportService().get(ctx, import_id)  # 404 outside the workspace
    rows = list(await ctx.session.scalars(select(DataImportError).where(DataImportError.import_id == import_id)
                                          .order_by(DataImportError.row, DataImportError.id)
                                          .offset(skip).limit(limit + 1)))
    return {"data": [{"row": e.row, "field": e.field, "reason": e.reason} for e in rows[:limit]],
            "has_more": len(rows) > limit}


# --- from the command line: `geniziz import FILE` ---------------------------------------------------------------
@dataclass
class FileImport:
    """Streams a file on disk through the importer, one committed unit of work per batch (no chunks stored)."""

    db: Any
    organization_id: str
    user_id: str
    fmt: str = "csv"
    mapping: dict[str, str | None] = field(default_factory=dict)
    dedupe: str = "update"
    dry_run: bool = False
    batch_rows: int = CHUNK_ROWS

    async def run(self, lines: Iterable[str], on_batch: Any = None, on_error: Any = None) -> dict[str, Any]:
        from geniziz.api.auth import Principal
        from geniziz.app import settle_memory

        try:
            columns, rows = read_rows(lines, self.fmt)
        except FileError as exc:
            raise APIError(400, str(exc), {"file": str(exc)}) from None
        mapping = {**guess_mapping(columns), **self.mapping}
        check_mapping(columns, mapping)
        principal = Principal(self.organization_id, self.user_id, "admin", "")
        since = utcnow()
        settle_memory()
        total = Outcome()
        failed = done = 0
        async with self.db.unit(self.organization_id) as session:
            importer = Importer(Ctx(session, principal, "import"), mapping, self.dedupe, self.dry_run, since=since)
            await importer.prepare()
        async for batch, check in checked_batches(importer, batches(rows, self.batch_rows)):
            async with self.db.unit(self.organization_id, write=True) as session:
                importer.ctx = Ctx(session, principal, "import")
                outcome = await importer.batch(batch, check)
            done += len(batch)
            failed += len(outcome.errors)
            total.merge(Outcome(outcome.counts))
            for error in outcome.errors:
                if on_error:
                    on_error(*error)
            if on_batch:
                on_batch(done)
        return {"columns": columns, "mapping": mapping, "rows": done, "counts": total.counts, "failed_rows": failed}
