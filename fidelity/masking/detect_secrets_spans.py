"""Yelp's detect-secrets (1.5.0) as the peer for the secret types of the masking quality
benchmark: each document is written to a file named for its format (.json, .log, .csv, .yaml,
.ini, .env, .txt: its filters and transformers read by extension) and scanned with
`scan_file` under the default settings (every plugin, the default heuristic filters), as
`detect-secrets scan` does. A secret is placed by finding its value in the reported line.

Its secret types are mapped to our detector names (aws_access_key, github_token, slack_token,
jwt, private_key; every other plugin, keyword and entropy findings too, to api_key). Cached in
target/masking/detect-secrets.jsonl, keyed by the data set's sha256.
"""

import hashlib
import json
import tempfile
from pathlib import Path

TYPES = {"AWS Access Key": "aws_access_key", "GitHub Token": "github_token", "Slack Token": "slack_token",
         "JSON Web Token": "jwt", "Private Key": "private_key"}


def extension(doc):
    kind, text = doc["kind"], doc["text"]
    if kind.startswith("json"):
        return ".json"
    if kind == "config":
        return ".yaml" if text.startswith("#") else ".ini" if text.startswith("[") else ".env"
    return {"log": ".log", "csv": ".csv"}.get(kind, ".txt")


def scan(doc, directory):
    from detect_secrets.core.scan import scan_file
    path = Path(directory) / (doc["id"] + extension(doc))
    path.write_text(doc["text"])
    lines = doc["text"].split("\n")
    starts, at = [], 0
    for line in lines:
        starts.append(at)
        at += len(line.encode()) + 1
    spans = set()
    for secret in scan_file(str(path)):
        line = lines[secret.line_number - 1] if 0 < secret.line_number <= len(lines) else ""
        value = secret.secret_value or ""
        at = line.find(value) if value else -1
        if at < 0:
            continue
        start = starts[secret.line_number - 1] + len(line[:at].encode())
        spans.add((start, start + len(value.encode()), TYPES.get(secret.type, "api_key")))
    path.unlink()
    return [{"start": s, "end": e, "detector": d} for s, e, d in sorted(spans)]


def detect_secrets_spans(docs, dataset_sha, cache_path):
    """{doc id: spans}, from the cache when it was made from this data set."""
    from detect_secrets.settings import default_settings
    key = hashlib.sha256(f"{dataset_sha} detect-secrets".encode()).hexdigest()
    cache_path = Path(cache_path)
    if cache_path.exists():
        lines = cache_path.read_text().splitlines()
        if lines and lines[0] == key:
            return {row["id"]: row["spans"] for row in map(json.loads, lines[1:])}
    with default_settings(), tempfile.TemporaryDirectory() as directory:
        answers = {doc["id"]: scan(doc, directory) for doc in docs}
    with open(cache_path, "w") as out:
        out.write(key + "\n")
        for doc_id, spans in answers.items():
            out.write(json.dumps({"id": doc_id, "spans": spans}) + "\n")
    return answers
