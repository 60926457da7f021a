"""Word lists the generator draws names from: companies, people, titles, subjects."""

from __future__ import annotations

from typing import Final

WORDS: Final = (
    *("Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Wonka", "Tyrell", "Cyberdyne", "Soylent"),
    *("Hooli", "Vandelay", "Massive", "Dynamic", "Gringotts", "Oscorp", "Pied", "Piper", "Aperture", "Black"),
    *("Mesa", "Nakatomi", "Monarch", "Vehement", "Duff", "Krusty", "Ollivander", "Sirius", "Planet", "Express"),
    *("Blue", "Sun", "Nuka", "Rekall", "Oceanic", "Dunder", "Mifflin", "Sakura", "Fuji", "Hikari", "Kumo"),
    *("Midori", "Tsubasa", "Yamato", "Kaze", "Hoshi", "Sora"),
)
SUFFIXES: Final = ("Corp", "Inc", "KK", "GmbH", "Ltd", "Labs", "Systems", "Holdings", "Group", "Works")
REGIONS: Final = ("Japan", "Europe", "Americas", "Asia", "Nordics", "Finance", "Logistics", "Digital", "Retail")
# Salesforce Industry picklist value → HubSpot industry enumeration value.
INDUSTRIES: Final = (
    ("Technology", "COMPUTER_SOFTWARE"),
    ("Consulting", "INFORMATION_TECHNOLOGY_AND_SERVICES"),
    ("Finance", "FINANCIAL_SERVICES"),
    ("Healthcare", "HOSPITAL_HEALTH_CARE"),
    ("Retail", "RETAIL"),
    ("Education", "EDUCATION_MANAGEMENT"),
    ("Transportation", "LOGISTICS_AND_SUPPLY_CHAIN"),
)

FIXED_OWNERS: Final = (
    ("Aiko Tanaka", True),
    ("Ben Carter", True),
    ("Chiara Rossi", True),
    ("Daisuke Mori", True),
    ("Elena Novak", True),
    ("Farid Haddad", True),
    ("Grace Kim", True),
    ("Hiro Sato", False),  # left the company: routing must not assign to an inactive owner
)
FIRST_NAMES: Final = (
    *("Akira", "Beatriz", "Carlos", "Dana", "Emil", "Fatima", "Gus", "Hana", "Ivan", "Jun", "Kenji", "Lena"),
    *("Mateo", "Nora", "Omar", "Priya", "Quinn", "Rina", "Sam", "Taro", "Uma", "Victor", "Wen", "Yuki", "Zoe"),
)
LAST_NAMES: Final = (
    *("Abe", "Brown", "Chen", "Dubois", "Evans", "Fischer", "Garcia", "Hayashi", "Ito", "Jensen", "Kato"),
    *("Lopez", "Muller", "Nakamura", "Okafor", "Patel", "Quist", "Rossi", "Suzuki", "Takahashi", "Ueda"),
    *("Varga", "Watanabe", "Xu", "Yamada", "Zhang"),
)
DEPARTMENTS: Final = ("Sales", "Marketing", "Engineering", "Finance", "Operations", "HR", "Support", "IT", "Legal")
TITLES: Final = {
    "Sales": ("VP Sales", "Sales Manager", "Account Executive"),
    "Marketing": ("CMO", "Marketing Manager", "Marketing Specialist"),
    "Engineering": ("CTO", "Engineering Manager", "Software Engineer"),
    "Finance": ("CFO", "Controller", "Financial Analyst"),
    "Operations": ("COO", "Operations Manager", "Operations Analyst"),
    "HR": ("CHRO", "HR Manager", "People Partner"),
    "Support": ("Head of Support", "Support Lead", "Support Engineer"),
    "IT": ("CIO", "IT Manager", "Systems Administrator"),
    "Legal": ("General Counsel", "Legal Counsel", "Paralegal"),
}


ACTIVITY_KINDS: Final = ("email", "email", "email", "call", "call", "meeting", "meeting", "task", "task", "note")
SUBJECTS: Final = {
    "email": ("Follow-up on usage review", "Renewal paperwork", "Invitation to product webinar", "Re: seat count"),
    "call": ("Check-in call", "Renewal call", "Discovery call", "Support follow-up call"),
    "meeting": ("Product demo", "Onboarding session", "Roadmap briefing", "Executive sponsor sync"),
    "task": ("Send case study", "Prepare usage report", "Schedule training", "Update account plan"),
    "note": ("Note: champion changed roles", "Note: budget cycle in Q3", "Note: evaluating competitors"),
}
QBR: Final = "Quarterly business review"
TICKET_SUBJECTS: Final = (
    "Cannot export report",
    "SSO login fails",
    "Slow dashboard load",
    "Sync error with CRM",
    "Billing question",
    "API rate limit exceeded",
    "User cannot be invited",
    "Data missing after import",
)
