"""Generate realistic posting files for benchmarks and large-set tests.

``python -m bench.generate DIR --count 10000`` writes DIR/<company>/<id>.md,
about 4 KB each, deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

COMPANIES = [
    ("Kestrel Robotics", "https://kestrel.example"),
    ("Verdant Grid", "https://verdantgrid.example"),
    ("Harbourside Health", "https://harbourside.example"),
    ("Rise & Crumb", None),
    ("Foldline Studio", "https://foldline.example"),
    ("Ledgerly", "https://ledgerly.example"),
    ("Northwind Logistics", "https://northwind.example"),
    ("Bluefin Analytics", "https://bluefin.example"),
    ("Café Olé Group", None),
    ("Müller & Söhne GmbH", "https://mueller-soehne.example"),
]
ROLES = [
    "Backend Engineer", "Data Engineer", "Site Reliability Engineer", "Product Designer",
    "Customer Support Specialist", "Shift Lead", "Registered Nurse", "Field Service Technician",
    "Frontend Developer", "Machine Learning Engineer", "Technical Writer", "Sales Development Rep",
]  # fmt: skip
LEVELS = ["Junior", "", "Senior", "Staff", "Lead"]
PLACES = [
    {"city": "Berlin", "region": "BE", "postal_code": "10115", "country": "DE"},
    {"city": "Oakland", "region": "CA", "postal_code": "94607", "country": "US"},
    {"city": "Manchester", "region": "England", "postal_code": "M1 1AE", "country": "GB"},
    {"city": "Amsterdam", "country": "NL"},
    {"city": "Lyon", "region": "Auvergne-Rhône-Alpes", "country": "FR"},
    {"city": "Toronto", "region": "ON", "postal_code": "M5V 2T6", "country": "CA"},
]
TAGS = ["python", "rust", "go", "data", "devops", "design", "support", "sales", "health", "remote", "kubernetes"]
TYPES = ["FULL_TIME", "full-time", "PART_TIME", "contract", "TEMPORARY", "INTERN"]
WORDS = (
    "build maintain scale reliable services customers teams data pipelines design review mentor ship "
    "observability latency throughput roadmap collaborate stakeholders improve automate document test "
    "deploy secure platform product quality incident response ownership growth learning budget"
).split()
ACCENTS = ["résumé", "naïve", "café", "“quoted”", "it’s", "Zürich", "São Paulo", "—"]


def _sentence(rng: random.Random, accents: bool) -> str:
    words = rng.choices(WORDS, k=rng.randint(10, 18))
    if accents and rng.random() < 0.3:
        words.insert(rng.randrange(len(words)), rng.choice(ACCENTS))
    return " ".join(words).capitalize() + "."


def _body(rng: random.Random, title: str, company: str, accents: bool, target: int) -> str:
    parts = [f"# {title} at {company}", ""]
    sections = ["About us", "The role", "What you will do", "What we look for", "Benefits", "How to apply"]
    while sum(len(p) + 1 for p in parts) < target:
        for name in sections:
            parts += [f"## {name}", ""]
            parts.append(" ".join(_sentence(rng, accents) for _ in range(rng.randint(2, 4))))
            parts.append("")
            for _ in range(rng.randint(3, 6)):
                parts.append(f"- **{rng.choice(WORDS)}** {_sentence(rng, accents)}")
            parts.append("")
            if sum(len(p) + 1 for p in parts) >= target:
                break
    return "\n".join(parts)


def _yaml_scalar(value: object) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def posting_text(rng: random.Random, index: int, body_bytes: int = 3400) -> tuple[str, str]:
    """(id, file text) of one generated posting."""
    company, url = rng.choice(COMPANIES)
    title = " ".join(filter(None, [rng.choice(LEVELS), rng.choice(ROLES)]))
    posting_id = f"job-{index:05d}"
    lines = ["---", f"id: {posting_id}", f"title: {_yaml_scalar(title)}"]
    if url:
        lines += ["company:", f"  name: {_yaml_scalar(company)}", f"  url: {url}", f"  logo: {url}/logo.png"]
    else:
        lines.append(f"company: {_yaml_scalar(company)}")
    mode = rng.random()
    if mode < 0.3:
        lines += ["remote: only", "applicant_locations: [DE, AT, CH, US-CA]"]
    else:
        place = rng.choice(PLACES)
        lines.append("location:")
        lines.append(f"  street: {_yaml_scalar(f'{rng.randint(1, 200)} Main Street')}")
        lines += [f"  {k}: {_yaml_scalar(v)}" for k, v in place.items()]
        if mode < 0.6:
            lines.append("remote: true")
    lines.append(f"employment_type: {rng.choice(TYPES)}")
    if rng.random() < 0.8:
        low = rng.randrange(30, 120) * 1000
        per, low = ("HOUR", low // 2000) if rng.random() < 0.3 else ("YEAR", low)
        lines.append(f"salary: {{min: {low}, max: {int(low * 1.3)}, currency: EUR, per: {per}}}")
    lines.append(f"date_posted: 2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}")
    if rng.random() < 0.5:
        lines.append(f"valid_through: 2027-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}")
    lines.append(f"apply_url: https://jobs.example/apply/{posting_id}")
    lines.append(f"tags: [{', '.join(rng.sample(TAGS, 3))}]")
    lines.append(f"department: {rng.choice(['Engineering', 'Operations', 'Care', 'Design'])}")
    lines.append("---")
    body = _body(rng, title, company, accents=rng.random() < 0.4, target=body_bytes)
    return posting_id, "\n".join(lines) + "\n" + body + "\n"


def generate(folder: Path, count: int, seed: int = 7) -> list[Path]:
    """Write ``count`` postings below ``folder``; return their paths."""
    rng = random.Random(seed)
    paths = []
    for index in range(count):
        posting_id, text = posting_text(rng, index)
        sub = folder / f"batch-{index // 1000:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        path = sub / f"{posting_id}.md"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    generate(args.folder, args.count, args.seed)


if __name__ == "__main__":
    main()
