"""Each account's contacts, activities and tickets (stakeholder, QBR, dormancy and churn stories)."""

from __future__ import annotations

import math

from sandbox.world.clock import DAY
from sandbox.world.generator.draw import Draw
from sandbox.world.records import Account, Activity, Contact, Deal, Ticket
from sandbox.world.stories import NEW_CUSTOMER
from sandbox.world.vocabulary import (
    ACTIVITY_KINDS,
    DEPARTMENTS,
    FIRST_NAMES,
    LAST_NAMES,
    QBR,
    SUBJECTS,
    TICKET_SUBJECTS,
    TITLES,
)


class People(Draw):
    """Contacts, activities and tickets of one account."""

    def _contacts(self, a: Account) -> list[Contact]:
        rng = self.rng
        r = rng.random
        clock = self.clock
        count = a.contacts
        if count == 0:
            return []
        known = rng.sample(DEPARTMENTS, 2 + int(r() * 3))
        growth = "stakeholder_growth" in a.overlays and count >= 2
        newcomer = next(d for d in DEPARTMENTS if d not in known) if growth else None
        age = max(31, clock.today - a.created // DAY)
        out: list[Contact] = []
        emails: set[str] = set()
        for k in range(count):
            recent = growth and k >= count - 2
            department = newcomer if recent and k == count - 1 and newcomer else known[k % len(known)]
            first = FIRST_NAMES[int(r() * len(FIRST_NAMES))]
            last = LAST_NAMES[int(r() * len(LAST_NAMES))]
            local = f"{first}.{last}".lower()
            email = f"{local}@{a.domain}"
            if email in emails:
                email = f"{local}{k}@{a.domain}"
            emails.add(email)
            titles = TITLES[department]
            title = titles[min(2, int(r() * 3.5))] if k else titles[0]  # the first contact is the executive
            if recent or age <= 31:
                created = clock.at(1 + int(r() * min(28, age - 1)), 540 + int(r() * 480))
            else:
                created = clock.at(31 + int(r() * (age - 30)), 540 + int(r() * 480))
            modified = clock.past(created + int(r() * 60) * DAY)
            out.append(Contact(first, last, email, title, department, created, modified))
        return out

    def _activities(self, a: Account, contacts: list[Contact], deals: list[Deal]) -> list[Activity]:
        r = self.rng.random
        clock = self.clock
        count = a.activities
        out: list[Activity] = []
        dormant = a.story == "dormant"
        oldest = min(180, max(1, clock.today - a.created // DAY))
        for k in range(count):
            kind = ACTIVITY_KINDS[int(r() * len(ACTIVITY_KINDS))]
            subject = SUBJECTS[kind][int(r() * len(SUBJECTS[kind]))]
            days_ago = 61 + int(r() * 120) if dormant else int(r() * oldest)
            if k == 0 and a.customer and a.story not in NEW_CUSTOMER:  # the latest quarterly review
                kind, subject = "meeting", QBR
                days_ago = 95 + int(r() * 80) if "qbr_due" in a.overlays else (61 if dormant else 5) + int(r() * 25)
            elif k == 1 and "stakeholder_growth" in a.overlays and len(contacts) >= 2:
                kind, subject, days_ago = "meeting", "Intro with new department", 1 + int(r() * 20)
            future = kind == "task" and r() < 0.25 and not dormant
            minute_of_day = 480 + int(r() * 600)
            if future:
                when = (clock.today + 1 + int(r() * 14)) * DAY + minute_of_day
                created = clock.at(int(r() * 10), 540)
                done = False
            else:
                when = clock.at(days_ago, minute_of_day)
                created = when if kind != "task" else clock.past(when - int(r() * 7) * DAY)
                done = kind != "meeting" or days_ago > 0
            modified = clock.past(max(created, when if not future else created) + int(r() * 120))
            contact = -1
            if contacts and kind != "note" and (kind != "task" or r() < 0.5):
                contact = int(r() * len(contacts))
                if subject == "Intro with new department":
                    contact = len(contacts) - 1
            deal = int(r() * len(deals)) if deals and r() < 0.15 else -1
            priority = ("High", "Normal", "Normal", "Low")[int(r() * 4)]
            variant = int(r() * 10)
            duration = (30, 45, 60)[int(r() * 3)]
            out.append(
                Activity(kind, subject, when, created, modified, contact, deal, done, priority, variant, duration)
            )
        return out

    def _tickets(self, a: Account, contacts: list[Contact]) -> list[Ticket]:
        r = self.rng.random
        clock = self.clock
        count = a.tickets
        out: list[Ticket] = []
        risk = a.story == "churn_risk" and count >= 3
        recent = max(2, math.ceil(count * 0.6)) if risk else 0
        before = min(count - recent, int(recent / 1.5)) if risk else 0
        escalate = 0 if risk or "open_escalation" in a.overlays else -1
        for k in range(count):
            if risk and k < recent:
                days_ago = 1 + int(r() * 29) if k else 1 + int(r() * 9)
            elif risk and k < recent + before:
                days_ago = 31 + int(r() * 29)
            elif risk:
                days_ago = 61 + int(r() * 120)
            elif k == escalate:
                days_ago = 1 + int(r() * 9)
            else:
                days_ago = int(r() * 180)
            created = clock.at(days_ago, 480 + int(r() * 600))
            contact = int(r() * len(contacts)) if contacts and r() < 0.8 else -1
            subject = TICKET_SUBJECTS[int(r() * len(TICKET_SUBJECTS))]
            origin = ("Web", "Email", "Phone")[int(r() * 3)]
            if k == escalate:
                modified = clock.past(created + 60 + int(r() * 600))
                out.append(Ticket(subject, "Escalated", "High", True, origin, created, None, modified, contact))
                continue
            priority = ("High", "Medium", "Medium", "Low", "Low")[int(r() * 5)]
            if days_ago > 14 or r() < 0.5:
                closed = clock.past(created + (1 + int(r() * 10)) * DAY)
                out.append(Ticket(subject, "Closed", priority, False, origin, created, closed, closed, contact))
            else:
                status = "New" if r() < 0.5 else "Working"
                modified = clock.past(created + int(r() * 600))
                out.append(Ticket(subject, status, priority, False, origin, created, None, modified, contact))
        return out
