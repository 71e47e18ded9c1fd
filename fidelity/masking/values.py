"""The sensitive values and look-alikes of the masking data set (generate.py): each generator
draws from a seeded `random.Random` and a seeded Faker of the document's locale, so a value
depends only on the document's seed.

A value is a `Lab` (labeled: its type is the detector that should find it, `sub` says which
variant it is) or a `Decoy` (a look-alike no detector should take). Phone numbers are kept only
when `phonenumbers` holds them valid for their region, IBANs carry correct check digits, cards
pass Luhn, SSNs are in the assigned ranges: a labeled value is a real one.
"""

import base64
import datetime
import ipaddress
import json
import string

import phonenumbers
from phonenumbers import PhoneNumberFormat

ALNUM = string.ascii_letters + string.digits
UPPER_DIGITS = string.ascii_uppercase + string.digits
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
B64URL = ALNUM + "-_"

REGIONS = {
    "en_US": "US", "en_GB": "GB", "de_DE": "DE", "fr_FR": "FR", "es_ES": "ES", "it_IT": "IT",
    "nl_NL": "NL", "pt_BR": "BR", "ja_JP": "JP", "en_IN": "IN",
}
# Countries no document locale covers, numbers built from phonenumbers' example numbers.
OTHER_REGIONS = ["AU", "CA", "MX", "CH", "AT", "BE", "SE", "PL", "SG", "ZA", "KR", "IE", "PT", "DK", "NO", "AR"]

# IBAN layouts (n digit, a letter, c either), after the country code and check digits.
IBAN_BBAN = {
    "DE": "n" * 18, "FR": "n" * 10 + "c" * 11 + "nn", "ES": "n" * 20, "IT": "a" + "n" * 10 + "c" * 12,
    "NL": "aaaa" + "n" * 10, "GB": "aaaa" + "n" * 14, "BE": "n" * 12, "AT": "n" * 16, "CH": "n" * 5 + "c" * 12,
    "PL": "n" * 24, "PT": "n" * 21, "IE": "aaaa" + "n" * 14, "LU": "nnn" + "c" * 13, "SE": "n" * 20,
    "NO": "n" * 11, "DK": "n" * 14, "FI": "n" * 14, "BR": "n" * 23 + "ac", "AE": "n" * 19, "SA": "nn" + "c" * 18,
}

IDN_DOMAINS = ["bücher.de", "münchen-reisen.de", "société-générale.fr", "españa-ejemplo.es", "日本語.jp",
               "пример.рф", "zürich-bank.ch", "xn--bcher-kva.de", "café-noir.fr", "ñandú.com.ar"]
ACCENTED_LOCALS = ["jürgen", "françois", "josé.garcía", "zoë", "søren", "łukasz", "müller", "ángel", "björk", "renée"]
APOSTROPHE_LOCALS = ["o'connor", "d'angelo", "o'neil.m", "l'amour", "mc'kay", "d'souza"]


class Lab:
    """A labeled sensitive value."""

    def __init__(self, text, type_, sub):
        self.text, self.type, self.sub = text, type_, sub


class Decoy:
    """A look-alike: text a detector should leave alone."""

    def __init__(self, text, kind):
        self.text, self.kind = text, kind


def luhn_digit(body):
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d -= 9 if d > 9 else 0
        total += d
    return str((10 - total % 10) % 10)


def iban_check(country, bban):
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{98 - int(digits) % 97:02d}"


class Values:
    """The value generators of one document."""

    def __init__(self, rng, fake, locale):
        self.rng, self.fake, self.locale = rng, fake, locale

    def pick(self, items):
        return items[self.rng.randrange(len(items))]

    def chars(self, alphabet, n):
        return "".join(alphabet[self.rng.randrange(len(alphabet))] for _ in range(n))

    def chance(self, p):
        return self.rng.random() < p

    def moment(self):
        """A time in 2020-2025 (Faker's own dates move with the clock)."""
        return datetime.datetime(2020, 1, 1) + datetime.timedelta(seconds=self.rng.randrange(6 * 365 * 86400))

    # --- PII -----------------------------------------------------------------------------------

    def email(self):
        r = self.rng.random()
        f = self.fake
        if r < 0.45:
            return Lab(self.pick([f.email, f.free_email, f.company_email, f.safe_email])(), "email", "plain")
        if r < 0.57:
            user, domain = f.email().split("@")
            return Lab(f"{user}+{self.pick(['news', 'billing', 'x', 'tag-2024'])}@{domain}", "email", "plus")
        if r < 0.67:
            return Lab(f"{self.pick(APOSTROPHE_LOCALS)}@{f.domain_name()}", "email", "apostrophe")
        if r < 0.77:
            return Lab(f"{self.pick(ACCENTED_LOCALS)}@{f.domain_name()}", "email", "non_ascii_local")
        if r < 0.87:
            return Lab(f"{f.user_name()}@{self.pick(IDN_DOMAINS)}", "email", "idn_domain")
        if r < 0.93:
            return Lab(f"{f.user_name().capitalize()}@{f.domain_word().capitalize()}.COM", "email", "mixed_case")
        return Lab(f"{f.user_name()}@mail.{self.pick(['eu', 'corp', 'int'])}.{f.domain_name(2)}", "email", "subdomain")

    def _valid_phone(self):
        """A number valid in the document's region (Faker's own format), or in another country
        (None for its text: a foreign number is written internationally)."""
        region = REGIONS.get(self.locale, "US")
        if self.chance(0.8):
            for _ in range(40):
                text = self.fake.phone_number()
                try:
                    number = phonenumbers.parse(text, region)
                except phonenumbers.NumberParseException:
                    continue
                if phonenumbers.is_valid_number(number) and number.extension is None:
                    return text, number
        region = self.pick(OTHER_REGIONS)
        kind = self.pick([phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE])
        example = phonenumbers.example_number_for_type(region, kind)
        national = str(example.national_number)
        for _ in range(40):
            keep = max(2, len(national) - 4)
            candidate = national[:keep] + self.chars(string.digits, len(national) - keep)
            number = phonenumbers.parse("+" + str(example.country_code) + candidate, None)
            if phonenumbers.is_valid_number(number):
                return None, number
        return None, example

    def phone(self):
        text, number = self._valid_phone()
        r = self.rng.random() if text else 0.4 + 0.4 * self.rng.random()
        if r < 0.4:
            sub = "faker"
        elif r < 0.6:
            text, sub = phonenumbers.format_number(number, PhoneNumberFormat.E164), "e164"
        elif r < 0.8:
            text, sub = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL), "international"
        else:
            text, sub = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL), "national"
        if self.chance(0.12):
            text += self.pick([" ext. ", " x", " ext ", ";ext=", " Durchwahl "]) + self.chars(string.digits, self.rng.randint(2, 5))
            sub += "+ext"
        return Lab(text, "phone", sub)

    def credit_card(self):
        kind = self.pick(["visa16", "visa16", "mastercard", "mastercard", "amex", "discover", "diners", "visa19", "jcb"])
        number = self.fake.credit_card_number(kind)
        if kind == "visa19" and len(number) != 19:
            number = number[:18] + luhn_digit(number[:18])
        grouping = self.pick(["none", "space", "dash"])
        if grouping == "none":
            text = number
        else:
            sep = " " if grouping == "space" else "-"
            sizes = {15: [4, 6, 5], 14: [4, 6, 4], 19: [4, 4, 4, 4, 3]}.get(len(number), [4, 4, 4, 4])
            parts, at = [], 0
            for size in sizes:
                parts.append(number[at:at + size])
                at += size
            text = sep.join(parts)
        return Lab(text, "credit_card", f"{kind}/{grouping}")

    def _ssn(self):
        while True:
            area = self.rng.randint(1, 899)
            if area != 666:
                break
        return f"{area:03d}", f"{self.rng.randint(1, 99):02d}", f"{self.rng.randint(1, 9999):04d}"

    def us_ssn(self, style=None):
        area, group, serial = self._ssn()
        style = style or self.pick(["dashed", "dashed", "spaced", "bare"])
        sep = {"dashed": "-", "spaced": " ", "bare": ""}[style]
        return Lab(sep.join([area, group, serial]), "us_ssn", style)

    def iban(self):
        country = self.pick(list(IBAN_BBAN))
        alphabet = {"n": string.digits, "a": string.ascii_uppercase, "c": UPPER_DIGITS}
        bban = "".join(self.chars(alphabet[c], 1) for c in IBAN_BBAN[country])
        compact = country + iban_check(country, bban) + bban
        if self.chance(0.5):
            return Lab(compact, "iban", f"{country}/compact")
        return Lab(" ".join(compact[i:i + 4] for i in range(0, len(compact), 4)), "iban", f"{country}/spaced")

    def ipv4(self):
        if self.chance(0.6):
            return Lab(self.fake.ipv4_public(), "ipv4", "public")
        return Lab(self.fake.ipv4_private(), "ipv4", "private")

    def ipv6(self):
        address = ipaddress.IPv6Address(self.fake.ipv6())
        r = self.rng.random()
        if r < 0.3:
            return Lab(address.exploded, "ipv6", "full")
        if r < 0.55:
            return Lab(str(address), "ipv6", "faker")
        if r < 0.8:
            prefix = self.pick(["2001:db8", "fe80", "2a00:1450:4001", "fd12:3456:789a"])
            tail = ":".join(self.chars(HEX, self.rng.randint(1, 4)).lstrip("0") or "0" for _ in range(self.rng.randint(1, 3)))
            return Lab(str(ipaddress.IPv6Address(f"{prefix}::{tail}")), "ipv6", "compressed")
        return Lab(f"::ffff:{self.fake.ipv4_public()}", "ipv6", "mapped")

    # --- secrets -------------------------------------------------------------------------------

    def aws_access_key(self):
        return Lab(self.pick(["AKIA", "AKIA", "ASIA"]) + self.chars(UPPER_DIGITS, 16), "aws_access_key", "access_key_id")

    def github_token(self):
        r = self.rng.random()
        if r < 0.75:
            prefix = self.pick(["ghp_", "gho_", "ghs_", "ghu_", "ghr_"])
            return Lab(prefix + self.chars(ALNUM, 36), "github_token", prefix[:-1])
        return Lab("github_pat_" + self.chars(ALNUM, 22) + "_" + self.chars(ALNUM, 59), "github_token", "fine_grained")

    def slack_token(self):
        r = self.rng.random()
        digits = lambda n: self.chars(string.digits, n)  # noqa: E731
        if r < 0.35:
            return Lab(f"xoxb-{digits(12)}-{digits(13)}-{self.chars(ALNUM, 24)}", "slack_token", "xoxb")
        if r < 0.5:
            return Lab(f"xoxp-{digits(12)}-{digits(12)}-{digits(13)}-{self.chars(HEX, 32)}", "slack_token", "xoxp")
        if r < 0.7:
            return Lab(f"xapp-1-A{self.chars(UPPER_DIGITS, 10)}-{digits(13)}-{self.chars(HEX, 64)}", "slack_token", "xapp")
        team, bot = "T" + self.chars(UPPER_DIGITS, 10), "B" + self.chars(UPPER_DIGITS, 10)
        if r < 0.85:
            return Lab(f"https://hooks.slack.com/services/{team}/{bot}/{self.chars(ALNUM, 24)}", "slack_token", "webhook")
        workflow = "A" + self.chars(UPPER_DIGITS, 10)
        return Lab(f"https://hooks.slack.com/workflows/{team}/{workflow}/{digits(18)}/{self.chars(ALNUM, 24)}",
                   "slack_token", "workflow")

    def jwt(self):
        header = {"alg": self.pick(["HS256", "RS256", "ES256"]), "typ": "JWT"}
        payload = {"sub": self.fake.uuid4(), "name": self.fake.name(), "iat": self.rng.randint(1600000000, 1800000000)}
        part = lambda obj: base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode().rstrip("=")  # noqa: E731
        return Lab(f"{part(header)}.{part(payload)}.{self.chars(B64URL, 43)}", "jwt", header["alg"])

    def private_key(self):
        kind = self.pick(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY", "ENCRYPTED PRIVATE KEY",
                          "PGP PRIVATE KEY BLOCK"])
        lines = [self.chars(B64, 64) for _ in range(self.rng.randint(3, 8))] + [self.chars(B64, 24) + "=="]
        if kind.startswith("PGP"):
            lines = ["Version: GnuPG v2", ""] + lines + ["=" + self.chars(B64, 4)]
        body = "\n".join(lines)
        return Lab(f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----", "private_key", kind.split()[0].lower())

    def prefixed_api_key(self):
        r = self.rng.random()
        choices = [
            ("stripe", lambda: self.pick(["sk_live_", "rk_live_", "sk_test_"]) + self.chars(ALNUM, self.rng.choice([24, 99]))),
            ("openai", lambda: "sk-" + self.chars(ALNUM, 48)),
            ("openai_project", lambda: "sk-proj-" + self.chars(B64URL, 74) + "T3BlbkFJ" + self.chars(B64URL, 74)),
            ("anthropic", lambda: "sk-ant-api03-" + self.chars(B64URL, 93) + "AA"),
            ("google", lambda: "AIza" + self.chars(B64URL, 35)),
            ("gitlab", lambda: "glpat-" + self.chars(B64URL, 20)),
            ("sendgrid", lambda: "SG." + self.chars(B64URL, 22) + "." + self.chars(B64URL, 43)),
            ("huggingface", lambda: "hf_" + self.chars(string.ascii_letters, 34)),
            ("npm", lambda: "npm_" + self.chars(ALNUM, 36)),
            ("pypi", lambda: "pypi-AgEIcHlwaS5vcmc" + self.chars(B64URL, self.rng.randint(60, 150))),
        ]
        sub, make = choices[int(r * len(choices))]
        return Lab(make(), "api_key", sub)

    def password(self):
        length = self.rng.randint(10, 24)
        text = self.fake.password(length=length, special_chars=self.chance(0.5))
        return Lab(text, "api_key", "password")

    def client_secret(self):
        return Lab(self.chars(ALNUM + "-_~.", self.rng.randint(32, 44)), "api_key", "client_secret")

    def bearer(self):
        """The credential of an `Authorization: Bearer` header (a JWT is labeled as one)."""
        if self.chance(0.35):
            return self.jwt()
        return Lab(self.chars(ALNUM + "-._~", self.rng.randint(28, 64)), "api_key", "bearer")

    def basic(self):
        user = self.fake.user_name()
        return Lab(base64.b64encode(f"{user}:{self.fake.password(length=12)}".encode()).decode(), "api_key", "basic")

    def secret(self):
        return self.pick([self.aws_access_key, self.github_token, self.slack_token, self.jwt, self.prefixed_api_key,
                          self.prefixed_api_key, self.prefixed_api_key])()

    def pii(self):
        return self.pick([self.email, self.email, self.phone, self.phone, self.credit_card, self.us_ssn, self.iban,
                          self.ipv4, self.ipv6])()

    # --- look-alikes ---------------------------------------------------------------------------

    def imei(self):
        body = self.pick(["35", "86", "01", "99"]) + self.chars(string.digits, 12)
        return body + luhn_digit(body)

    def ean13(self):
        body = self.pick(["40", "50", "76", "80", "87", "97"]) + self.chars(string.digits, 10)
        total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
        return body + str((10 - total % 10) % 10)

    def decoy(self, kind=None):
        kind = kind or self.pick(DECOY_KINDS)
        return Decoy(getattr(self, "decoy_" + kind)(), kind)

    def decoy_netmask(self):
        return self.pick(["255.255.255.0", "255.255.0.0", "255.255.255.252", "255.255.255.128", "255.0.0.0"])

    def decoy_oid(self):
        return self.pick(["1.3.6.1.4.1.311.21.8", "1.3.6.1.4.1.311", "1.2.840.113549.1.1.11", "2.5.29.37", "1.3.6.1.5.5.7.3.1"])

    def decoy_version(self):
        return self.pick(["10.0.19041.1", "10.0.22631.2861", "6.1.7601.24214", "4.18.2.10", "116.0.5845.96", "3.2.1.4"])

    def decoy_rust_path(self):
        return self.pick(["Add::add(", "std::io::Error", "a::b::c", "tokio::runtime::Builder::new_multi_thread()",
                          "Vec::<u8>::with_capacity(", "serde::de::Error::custom(", "dead::beef::cafe", "abc::def("])

    def decoy_time(self):
        return f"{self.rng.randint(0, 23):02d}:{self.rng.randint(0, 59):02d}:{self.rng.randint(0, 59):02d}"

    def decoy_mac(self):
        mac = self.fake.mac_address()
        return mac.upper().replace(":", "-") if self.chance(0.3) else mac

    def decoy_imei(self):
        return self.imei()

    def decoy_gtin(self):
        return self.ean13()

    def decoy_nanos(self):
        return str(self.rng.randint(1_600_000_000_000_000_000, 1_800_000_000_000_000_000))

    def decoy_order_number(self):
        return self.pick([f"{self.chars(string.digits, 3)}-{self.chars(string.digits, 7)}-{self.chars(string.digits, 7)}",
                          f"INV-{self.rng.randint(2019, 2026)}-{self.chars(string.digits, 6)}",
                          self.chars(string.digits, self.rng.randint(10, 16))])

    def decoy_uuid(self):
        return self.fake.uuid4()

    def decoy_git_sha(self):
        return self.chars(HEX, 40)

    def decoy_git_remote(self):
        return f"git@github.com:{self.fake.user_name()}/{self.fake.domain_word()}.git"

    def decoy_publishable_key(self):
        return self.pick(["pk_live_", "pk_test_"]) + self.chars(ALNUM, 24)

    def decoy_secret_reference(self):
        return self.pick([
            f"arn:aws:secretsmanager:{self.pick(['us-east-1', 'eu-west-1'])}:{self.chars(string.digits, 12)}:secret:prod/db-{self.chars(ALNUM, 6)}",
            f"vault:secret/data/{self.fake.domain_word()}#{self.pick(['password', 'api_key', 'token'])}",
            "${DB_PASSWORD}", "{{ secrets.API_KEY }}", "${{ secrets.GITHUB_TOKEN }}", "$(cat /run/secrets/db_password)",
            f"projects/{self.fake.domain_word()}/secrets/api-key/versions/latest",
        ])

    def decoy_placeholder(self):
        return self.pick(["sk-...", "sk-XXXXXXXX", "<your-api-key>", "********", "AKIA...", "ghp_...", "xoxb-your-token",
                          "REPLACE_ME", "changeme"])

    def decoy_date(self):
        return self.moment().date().isoformat()

    def decoy_hash(self):
        return self.chars(HEX, 64)


# Per look-alike: the key it goes under in structured documents, the words before it in prose.
DECOY_CONTEXT = {
    "netmask": ("netmask", "netmask"), "oid": ("oid", "OID"), "version": ("os_version", "version"),
    "rust_path": ("error", "panicked at"), "time": ("time", "at"), "mac": ("mac_address", "MAC"),
    "imei": ("imei", "IMEI"), "gtin": ("gtin", "EAN"), "nanos": ("timestamp_ns", "ts="),
    "order_number": ("order_number", "order"), "uuid": ("request_id", "request"), "git_sha": ("commit", "commit"),
    "git_remote": ("remote", "remote"), "publishable_key": ("publishable_key", "publishable key"),
    "secret_reference": ("password", "password:"), "placeholder": ("api_key", "api_key ="), "date": ("date", "on"),
    "hash": ("sha256", "sha256"),
}

DECOY_KINDS = ["netmask", "oid", "version", "rust_path", "time", "mac", "imei", "gtin", "nanos", "order_number", "uuid",
               "git_sha", "git_remote", "publishable_key", "secret_reference", "placeholder", "date", "hash"]
