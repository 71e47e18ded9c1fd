"""Microsoft Presidio's side of the masking quality benchmark: its predefined pattern
recognizers for the types we detect (EmailRecognizer, PhoneRecognizer, CreditCardRecognizer,
UsSsnRecognizer, IbanRecognizer, IpRecognizer), run directly, without an NLP engine, so no spaCy
model is needed. That is what `AnalyzerEngine` returns at its default `score_threshold` of 0
without context enhancement: every pattern match its validation keeps, at whatever score.
PhoneRecognizer gets Presidio's default regions plus those of the data set's locales (ES, IT,
NL, JP), the configuration a deployment for this data would choose.

Spans are converted from Presidio's character offsets to UTF-8 byte offsets and cached in
target/masking/presidio.jsonl, keyed by the data set's sha256 (about 40 s to recompute).
"""

import hashlib
import json
import os
from pathlib import Path

# EmailRecognizer's tldextract would fetch the public suffix list: its bundled snapshot keeps the
# run offline and the same on every machine.
os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""

ENTITY_TYPES = {"EMAIL_ADDRESS": "email", "PHONE_NUMBER": "phone", "CREDIT_CARD": "credit_card", "US_SSN": "us_ssn",
                "IBAN_CODE": "iban", "IP_ADDRESS": "ip"}
PHONE_REGIONS = ("US", "GB", "DE", "FR", "IL", "IN", "CA", "BR", "ES", "IT", "NL", "JP")


def recognizers():
    from presidio_analyzer.predefined_recognizers import (CreditCardRecognizer, EmailRecognizer, IbanRecognizer,
                                                          IpRecognizer, PhoneRecognizer, UsSsnRecognizer)
    return [EmailRecognizer(), PhoneRecognizer(supported_regions=PHONE_REGIONS), CreditCardRecognizer(), UsSsnRecognizer(),
            IbanRecognizer(), IpRecognizer()]


def byte_offsets(text):
    """The UTF-8 byte offset of every character index (and of the end)."""
    offsets, at = [], 0
    for ch in text:
        offsets.append(at)
        at += len(ch.encode())
    offsets.append(at)
    return offsets


def detector_name(entity, span_text):
    kind = ENTITY_TYPES[entity]
    if kind == "ip":
        return "ipv6" if ":" in span_text else "ipv4"
    return kind


def analyze(text, chosen):
    offsets = byte_offsets(text)
    spans = set()
    for recognizer in chosen:
        for result in recognizer.analyze(text, recognizer.supported_entities, None):
            if result.score <= 0:
                continue
            name = detector_name(result.entity_type, text[result.start:result.end])
            spans.add((offsets[result.start], offsets[result.end], name))
    return [{"start": s, "end": e, "detector": d} for s, e, d in sorted(spans)]


def presidio_spans(docs, dataset_sha, cache_path):
    """{doc id: spans}, from the cache when it was made from this data set."""
    import presidio_analyzer
    key = hashlib.sha256(f"{dataset_sha} {presidio_analyzer.__version__ if hasattr(presidio_analyzer, '__version__') else ''} "
                         f"{PHONE_REGIONS}".encode()).hexdigest()
    cache_path = Path(cache_path)
    if cache_path.exists():
        lines = cache_path.read_text().splitlines()
        if lines and lines[0] == key:
            return {row["id"]: row["spans"] for row in map(json.loads, lines[1:])}
    chosen = recognizers()
    answers = {doc["id"]: analyze(doc["text"], chosen) for doc in docs}
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    with open(cache_path, "w") as out:
        out.write(key + "\n")
        for doc_id, spans in answers.items():
            out.write(json.dumps({"id": doc_id, "spans": spans}) + "\n")
    return answers
