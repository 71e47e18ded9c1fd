"""Generates the labeled masking data set: about 3,000 documents of the shapes an agent reads
(JSON API bodies, JSON written with Python's and Go's default escapes, log lines, CSV, YAML /
.env / INI config, mail, free text in six languages) with their sensitive values labeled by
exact UTF-8 byte span and type (values.py), and look-alikes recorded as decoys.

Writes target/masking/dataset.jsonl, one document a line: {id, kind, locale, text, labels:
[{start, end, type, sub}], decoys: [{start, end, kind}]}. Every document has its own seed, so the
output is byte for byte the same on every run; its sha256 is held in dataset.sha256 next to this
script and checked after writing (`--update` records a new one after a deliberate change).

    .venv/bin/python fidelity/masking/generate.py [--out PATH] [--update]
"""

import argparse
import hashlib
import json
import os
import random
import sys
from pathlib import Path

from faker import Faker

from values import DECOY_CONTEXT, REGIONS, Decoy, Lab, Values

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
LOCALES = list(REGIONS)
# Free text: six languages, each with the locales whose names and numbers it carries.
LANGUAGES = {"en": ["en_US", "en_GB", "en_IN"], "de": ["de_DE"], "fr": ["fr_FR"], "es": ["es_ES"], "it": ["it_IT"],
             "nl": ["nl_NL"]}
COUNTS = {"json": 800, "json_python_escapes": 150, "json_go_escapes": 150, "log": 500, "csv": 250, "config": 350,
          "mail": 300, "text": 600}


class Doc:
    """Pieces of text, some of them labeled values or decoys, rendered with byte offsets."""

    def __init__(self):
        self.pieces = []

    def add(self, *pieces):
        self.pieces.extend(pieces)
        return self

    def render(self):
        out, labels, decoys, at = [], [], [], 0
        for piece in self.pieces:
            text = piece if isinstance(piece, str) else piece.text
            size = len(text.encode())
            if isinstance(piece, Lab):
                labels.append({"start": at, "end": at + size, "type": piece.type, "sub": piece.sub})
            elif isinstance(piece, Decoy):
                decoys.append({"start": at, "end": at + size, "kind": piece.kind})
            out.append(text)
            at += size
        return "".join(out), labels, decoys


# --- JSON --------------------------------------------------------------------------------------

def escaper(style):
    """How a JSON writer escapes string content: serde (UTF-8 as is), Python's json.dumps
    default (non-ASCII as \\uXXXX), Go's encoding/json (<, >, & and U+2028/9 as \\u00XX)."""
    def plain(text):
        return json.dumps(text, ensure_ascii=False)[1:-1]

    def python(text):
        return json.dumps(text)[1:-1]

    def go(text):
        out = plain(text)
        for ch, esc in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
            out = out.replace(ch, esc)
        return out
    return {"serde": plain, "python": python, "go": go}[style]


class Join:
    """A JSON string made of several pieces (prose with values inside)."""

    def __init__(self, *pieces):
        self.pieces = pieces


def escaped(value, escape):
    if isinstance(value, Lab):
        return Lab(escape(value.text), value.type, value.sub)
    return Decoy(escape(value.text), value.kind)


def emit_json(doc, value, escape, indent, depth=0):
    pad = "\n" + " " * (indent * (depth + 1)) if indent else ""
    end = "\n" + " " * (indent * depth) if indent else ""
    if isinstance(value, dict):
        doc.add("{")
        for i, (key, item) in enumerate(value.items()):
            doc.add(("," if i else "") + pad + '"' + escape(key) + '": ')
            emit_json(doc, item, escape, indent, depth + 1)
        doc.add(end + "}" if value else "}")
    elif isinstance(value, list):
        doc.add("[")
        for i, item in enumerate(value):
            doc.add(("," if i else "") + pad)
            emit_json(doc, item, escape, indent, depth + 1)
        doc.add(end + "]" if value else "]")
    elif isinstance(value, (Lab, Decoy)):
        doc.add('"', escaped(value, escape), '"')
    elif isinstance(value, Join):
        doc.add('"', *(escape(p) if isinstance(p, str) else escaped(p, escape) for p in value.pieces), '"')
    elif isinstance(value, str):
        doc.add('"' + escape(value) + '"')
    else:
        doc.add(json.dumps(value))


def person(v):
    f = v.fake
    record = {"id": v.rng.randint(1, 10**6), "name": f.name()}
    fields = [
        ("email", v.email), ("phone", v.phone), ("mobile", v.phone), ("iban", v.iban), ("card_number", v.credit_card),
        ("last_ip", v.ipv4), ("ipv6", v.ipv6), ("ssn", lambda: v.us_ssn(v.pick(["dashed", "bare", "bare"]))),
        ("address", f.address), ("company", f.company), ("created_at", lambda: v.moment().isoformat()), ("request_id", f.uuid4),
        ("device_imei", v.imei), ("gtin", v.ean13), ("os_version", lambda: v.decoy("version")),
        ("netmask", lambda: v.decoy("netmask")), ("contact", lambda: Join(f.name() + " <", v.email(), ">")),
        ("team", lambda: Join(f.last_name() + " & " + f.last_name() + " <", v.email(), "> " + f.city())), ("notes", lambda: Join(f.sentence() + " Reach me at ", v.pii(), ".")),
    ]
    for key, make in v.rng.sample(fields, v.rng.randint(4, 9)):
        made = make()
        if key in ("device_imei", "gtin"):
            made = Decoy(made, "imei" if key == "device_imei" else "gtin")
        record[key] = made
    return record


def json_body(v):
    f = v.fake
    shape = v.pick(["user", "list", "payment", "integration", "error", "event", "user", "list"])
    if shape == "user":
        return person(v)
    if shape == "list":
        return {"data": [person(v) for _ in range(v.rng.randint(2, 5))], "next_cursor": v.decoy("uuid"), "total": v.rng.randint(5, 500)}
    if shape == "payment":
        return {"payment_id": "pay_" + v.chars("abcdefghijklmnop0123456789", 14), "amount": v.rng.randint(100, 99999),
                "card": {"number": v.credit_card(), "holder": f.name(), "expiry": v.moment().strftime("%m/%y")},
                "iban": v.iban(), "billing_email": v.email(), "order": v.decoy("order_number"), "ean": v.decoy("gtin")}
    if shape == "integration":
        secrets = [("api_key", v.prefixed_api_key), ("client_secret", v.client_secret), ("webhook", v.slack_token),
                   ("github_token", v.github_token), ("aws_access_key_id", v.aws_access_key), ("password", v.password),
                   ("publishable_key", lambda: v.decoy("publishable_key")), ("token_ref", lambda: v.decoy("secret_reference")),
                   ("private_key", v.private_key), ("id_token", v.jwt), ("commit", lambda: v.decoy("git_sha")),
                   ("repository", lambda: v.decoy("git_remote"))]
        out = {"name": f.domain_word(), "enabled": v.chance(0.5)}
        for key, make in v.rng.sample(secrets, v.rng.randint(2, 6)):
            out[key] = make()
        return out
    if shape == "error":
        return {"error": {"code": v.rng.randint(400, 599), "message": Join(v.decoy("rust_path"), " failed for ", v.email()),
                          "trace_id": v.decoy("hash"), "at": v.decoy("time"), "oid": v.decoy("oid")},
                "client": {"ip": v.pick([v.ipv4, v.ipv6])(), "mac": v.decoy("mac")}}
    return {"event": v.pick(["login", "logout", "password_reset", "token_created"]), "ts_ns": v.decoy("nanos"),
            "actor": {"email": v.email(), "ip": v.ipv4()}, "user_agent": f.user_agent(),
            "headers": {"authorization": Join("Bearer ", v.bearer())} if v.chance(0.5) else {"x-request-id": v.decoy("uuid")}}


def make_json(v, style):
    doc = Doc()
    emit_json(doc, json_body(v), escaper(style), v.pick([0, 0, 2]))
    return doc


# --- logs, CSV, config, mail, text ---------------------------------------------------------------

def log_line(v, doc):
    f = v.fake
    stamp = v.moment().isoformat() + "." + v.chars("0123456789", 3) + "Z "
    level = v.pick(["INFO", "WARN", "ERROR", "DEBUG"])
    r = v.rng.random()
    if r < 0.2:
        doc.add(v.ipv4(), f' - - [{v.moment().strftime("%d/%b/%Y:%H:%M:%S")} +0000] "GET /api/v1/users/{v.rng.randint(1, 9999)} HTTP/1.1" 200 '
                f'{v.rng.randint(100, 99999)} "-" "{f.user_agent()}"\n')
    elif r < 0.35:
        doc.add(stamp, level, " auth: login ok user=", v.email(), " ip=", v.pick([v.ipv4, v.ipv6])(), " session=", v.decoy("uuid"), "\n")
    elif r < 0.45:
        scheme, credential = v.pick([("Bearer ", v.bearer), ("Basic ", v.basic)])
        doc.add(stamp, level, " http: outbound request headers={Authorization: ", scheme, credential(), "} host=", f.domain_name(), "\n")
    elif r < 0.55:
        doc.add(stamp, level, " config loaded ", v.pick(["api_key", "token", "secret", "password"]), "=")
        doc.add(v.pick([v.prefixed_api_key, v.password, v.github_token, v.aws_access_key])(), " version=", v.decoy("version"), "\n")
    elif r < 0.65:
        doc.add(stamp, "ERROR thread 'main' panicked at ", v.decoy("rust_path"), " src/main.rs:", str(v.rng.randint(1, 900)), " ts=",
                v.decoy("nanos"), "\n")
    elif r < 0.75:
        doc.add(stamp, level, " billing: charge card=", v.credit_card(), " customer=", v.email(), " order=", v.decoy("order_number"), "\n")
    elif r < 0.82:
        doc.add(stamp, level, " kyc: verified ssn=", v.us_ssn(), " phone=", v.phone(), "\n")
    elif r < 0.9:
        doc.add(stamp, level, " net: iface eth0 addr ", v.ipv4(), " netmask ", v.decoy("netmask"), " hwaddr ", v.decoy("mac"),
                " ipv6 ", v.ipv6(), "\n")
    else:
        doc.add(stamp, level, " device ", "IMEI ", v.decoy("imei"), " snmp ", v.decoy("oid"), " at ", v.decoy("time"), " commit ",
                v.decoy("git_sha"), "\n")


def make_log(v):
    doc = Doc()
    for _ in range(v.rng.randint(3, 12)):
        log_line(v, doc)
    return doc


CSV_COLUMNS = {"email": Values.email, "phone": Values.phone, "iban": Values.iban, "card": Values.credit_card,
               "ssn": lambda v: v.us_ssn(v.pick(["dashed", "bare"])), "ip": Values.ipv4, "ip6": Values.ipv6,
               "imei": lambda v: v.decoy("imei"), "ean": lambda v: v.decoy("gtin"), "order": lambda v: v.decoy("order_number"),
               "created": lambda v: v.decoy("date")}


def make_csv(v):
    doc = Doc()
    sep = v.pick([",", ";", "\t"])
    columns = ["id", "name"] + v.rng.sample(list(CSV_COLUMNS), v.rng.randint(3, 6))
    doc.add(sep.join(columns) + "\n")
    for row in range(v.rng.randint(4, 14)):
        doc.add(str(row + 1), sep, v.fake.name().replace(sep, " "))
        for column in columns[2:]:
            value = CSV_COLUMNS[column](v)
            quoted = sep in value.text
            doc.add(sep, '"' if quoted else "", value, '"' if quoted else "")
        doc.add("\n")
    return doc


def config_entries(v):
    entries = [("DATABASE_PASSWORD", v.password()), ("STRIPE_SECRET_KEY", v.prefixed_api_key()), ("GITHUB_TOKEN", v.github_token()),
               ("AWS_ACCESS_KEY_ID", v.aws_access_key()), ("SLACK_WEBHOOK_URL", v.slack_token()), ("OAUTH_CLIENT_SECRET", v.client_secret()),
               ("ADMIN_EMAIL", v.email()), ("SUPPORT_PHONE", v.phone()), ("BIND_ADDRESS", v.ipv4()), ("NETMASK", v.decoy("netmask")),
               ("APP_VERSION", v.decoy("version")), ("DB_PASSWORD_REF", v.decoy("secret_reference")), ("API_KEY", v.decoy("placeholder")),
               ("STRIPE_PUBLISHABLE_KEY", v.decoy("publishable_key")), ("GIT_REMOTE", v.decoy("git_remote")),
               ("JWT_SIGNING_SAMPLE", v.jwt()), ("OPENAI_API_KEY", v.prefixed_api_key()), ("SECRET_KEY", v.client_secret()),
               ("SNMP_OID", v.decoy("oid")), ("BUILD_SHA", v.decoy("git_sha"))]
    return v.rng.sample(entries, v.rng.randint(4, 9))


def make_config(v):
    doc = Doc()
    style = v.pick(["yaml", "env", "ini"])
    entries = config_entries(v)
    if style == "yaml":
        doc.add(f"# {v.fake.domain_word()} settings\nservice:\n  name: {v.fake.domain_word()}\n")
        for key, value in entries:
            quote = v.pick(["", '"', "'"])
            doc.add(f"  {key.lower()}: {quote}", value, f"{quote}\n")
        if v.chance(0.3):
            key = v.private_key()
            doc.add("  tls_key: |\n")
            lines = key.text.split("\n")
            doc.add("    ", Lab("\n    ".join(lines), "private_key", key.sub), "\n")
    elif style == "env":
        for key, value in entries:
            doc.add(f"{key}=", value, "\n")
    else:
        doc.add(f"[{v.fake.domain_word()}]\n")
        for i, (key, value) in enumerate(entries):
            if i and v.chance(0.2):
                doc.add(f"\n[{v.fake.domain_word()}]\n")
            doc.add(f"{key.lower()} {v.pick(['=', ' = ', ': '])}", value, "\n")
    return doc


def make_mail(v, language):
    f = v.fake
    doc = Doc()
    sender, receiver = v.email(), v.email()
    doc.add("Received: from ", f.domain_name(), " (", f.hostname(), " [", v.ipv4(), "])\n\tby mx.", f.domain_name(),
            " with ESMTPS; ", v.moment().strftime("%a, %d %b %Y %H:%M:%S +0000"), "\n")
    doc.add("From: ", f.name(), " <", sender, ">\nTo: ", receiver, "\n")
    if v.chance(0.4):
        doc.add("Cc: ", f.name(), " <", v.email(), ">, ", v.email(), "\n")
    doc.add("Subject: ", f.sentence(nb_words=5), "\n")
    if v.chance(0.4):
        doc.add("X-Originating-IP: [", v.ipv4(), "]\n")
    doc.add("Content-Type: text/plain; charset=utf-8\n\n")
    for _ in range(v.rng.randint(1, 3)):
        sentence(v, doc, language)
    doc.add("\n-- \n", f.name(), "\n", TEL[language], v.phone(), "\n", v.email(), "\n")
    return doc


TEL = {"en": "Tel: ", "de": "Telefon: ", "fr": "Tél. : ", "es": "Tel.: ", "it": "Tel. ", "nl": "Tel.: "}
PROSE = {
    "en": {"phone": "Please call me at {} tomorrow.", "email": "You can write to {} anytime.",
           "iban": "Please transfer the amount to {} by Friday.", "credit_card": "I paid with card {} last week.",
           "us_ssn": "My social security number is {}.", "ipv4": "The attack came from {} again.",
           "ipv6": "The server listens on {} now.", "secret": "Oops, I pasted the key {} into the chat.",
           "decoy": "Build {} shipped at noon."},
    "de": {"phone": "Bitte rufen Sie mich unter {} zurück.", "email": "Schreiben Sie mir an {}.",
           "iban": "Bitte überweisen Sie den Betrag auf das Konto {}.", "credit_card": "Ich habe mit der Karte {} bezahlt.",
           "us_ssn": "Seine amerikanische SSN lautet {}.", "ipv4": "Der Zugriff kam von der Adresse {}.",
           "ipv6": "Der Dienst ist unter {} erreichbar.", "secret": "Der Schlüssel {} wurde versehentlich veröffentlicht.",
           "decoy": "Die Version {} ist installiert."},
    "fr": {"phone": "Vous pouvez me joindre au {} demain.", "email": "Écrivez-moi à {} s'il vous plaît.",
           "iban": "Merci de virer le montant sur le compte {}.", "credit_card": "J'ai payé avec la carte {} hier.",
           "us_ssn": "Son numéro SSN américain est {}.", "ipv4": "La connexion venait de {}.",
           "ipv6": "Le serveur écoute sur {}.", "secret": "La clé {} a été publiée par erreur.",
           "decoy": "La référence {} est jointe."},
    "es": {"phone": "Llámeme al {} mañana, por favor.", "email": "Puede escribirme a {} cuando quiera.",
           "iban": "Por favor, transfiera el importe a la cuenta {}.", "credit_card": "Pagué con la tarjeta {} ayer.",
           "us_ssn": "Su número de seguro social (SSN) es {}.", "ipv4": "El acceso vino de la dirección {}.",
           "ipv6": "El servidor escucha en {}.", "secret": "La clave {} se publicó por error.",
           "decoy": "El pedido {} fue enviado."},
    "it": {"phone": "Mi può chiamare al numero {} domani.", "email": "Mi scriva pure a {}.",
           "iban": "La preghiamo di bonificare l'importo sul conto {}.", "credit_card": "Ho pagato con la carta {} ieri.",
           "us_ssn": "Il suo SSN americano è {}.", "ipv4": "L'accesso proveniva da {}.",
           "ipv6": "Il server ascolta su {}.", "secret": "La chiave {} è stata pubblicata per errore.",
           "decoy": "La versione {} è installata."},
    "nl": {"phone": "Bel me morgen op {} terug.", "email": "Stuur een bericht naar {}.",
           "iban": "Maak het bedrag over naar rekening {}.", "credit_card": "Ik heb betaald met kaart {}.",
           "us_ssn": "Zijn Amerikaanse SSN is {}.", "ipv4": "De aanval kwam van {}.",
           "ipv6": "De server luistert op {}.", "secret": "De sleutel {} is per ongeluk gepubliceerd.",
           "decoy": "Referentie {} is bijgevoegd."},
}


def sentence(v, doc, language):
    kind = v.pick(["phone", "phone", "email", "email", "iban", "credit_card", "us_ssn", "ipv4", "ipv6", "secret", "decoy", "decoy"])
    before, after = PROSE[language][kind].split("{}")
    if kind == "decoy":
        decoy = v.decoy()
        value = decoy
        before = before + DECOY_CONTEXT[decoy.kind][1] + " "
    elif kind == "secret":
        value = v.secret()
    else:
        value = getattr(v, kind)()
    doc.add(v.fake.sentence() + " " + before, value, after + " ")


def make_text(v, language):
    doc = Doc()
    for _ in range(v.rng.randint(2, 6)):
        sentence(v, doc, language)
    doc.add("\n")
    return doc


# --- the data set ------------------------------------------------------------------------------

def documents():
    fakers = {locale: Faker(locale) for locale in LOCALES}
    for kind, count in COUNTS.items():
        for i in range(count):
            rng = random.Random(f"{kind}/{i}")
            language = rng.choice(list(LANGUAGES))
            locale = rng.choice(LANGUAGES[language] if kind in ("text", "mail") else LOCALES)
            fake = fakers[locale]
            fake.seed_instance(rng.getrandbits(64))
            v = Values(rng, fake, locale)
            if kind.startswith("json"):
                doc = make_json(v, {"json": "serde", "json_python_escapes": "python", "json_go_escapes": "go"}[kind])
            elif kind in ("mail", "text"):
                doc = (make_mail if kind == "mail" else make_text)(v, language)
            else:
                doc = {"log": make_log, "csv": make_csv, "config": make_config}[kind](v)
            text, labels, decoys = doc.render()
            yield {"id": f"{kind}-{i:04d}", "kind": kind, "locale": locale, "text": text, "labels": labels, "decoys": decoys}


def main():
    if os.environ.get("PYTHONHASHSEED") != "0":
        # Some Faker providers draw from sets, whose order follows string hashing.
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "target/masking/dataset.jsonl")
    parser.add_argument("--update", action="store_true", help="record the new sha256 instead of checking it")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    docs = labels = decoys = 0
    with open(args.out, "wb") as out:
        for doc in documents():
            line = (json.dumps(doc, ensure_ascii=False, sort_keys=True) + "\n").encode()
            digest.update(line)
            out.write(line)
            docs, labels, decoys = docs + 1, labels + len(doc["labels"]), decoys + len(doc["decoys"])
    recorded = HERE / "dataset.sha256"
    print(f"{args.out}: {docs} documents, {labels} labeled values, {decoys} look-alikes, sha256 {digest.hexdigest()}")
    if args.update:
        recorded.write_text(digest.hexdigest() + "\n")
    elif not recorded.exists() or recorded.read_text().strip() != digest.hexdigest():
        sys.exit(f"the data set differs from {recorded}: a change to the generator or to faker/phonenumbers (run with --update if meant)")


if __name__ == "__main__":
    main()
