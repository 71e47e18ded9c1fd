"""The shared corpus: PostgreSQL 15's regression scripts and the policy corpus's SQL; and the
ClickHouse statements of sqlglot's own dialect tests.

The regression scripts come from the source package of `postgresql-15` Debian ships, fetched
with `apt-get source` through deb-src entries made at run time from this machine's own apt
sources, with a private list and cache directory under target/ (the system's apt state is left
alone). apt checks the .dsc against the signed Release; the orig tarball's sha256 is checked
against fidelity/sources.sha256 too. The scripts are kept under target/fidelity/.

The ClickHouse statements come from fidelity/clickhouse.sql (the families the rest lacks) and
tests/dialects/test_clickhouse.py of the pinned sqlglot's source distribution (fetched with `pip
download`, its sha256 checked the same way), read with Python's own parser, never run. (Debian's
`clickhouse` source package, whose stateless tests would serve, is not served by the mirror here.)
"""

import ast

import glob
import hashlib
import os
import re
import subprocess
import sys
import tarfile

import psql_split

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CACHE = os.path.join(ROOT, "target", "fidelity")
APT = os.path.join(CACHE, "apt")
REGRESS = os.path.join(CACHE, "pg15-regress")
SOURCE_PACKAGE = "postgresql-15"
CASES = os.path.join(ROOT, "filter", "tests", "corpus", "cases.txt")
SQLGLOT_TESTS = os.path.join(CACHE, "sqlglot-tests")
CLICKHOUSE_FAMILIES = os.path.join(HERE, "clickhouse.sql")
CLICKHOUSE_TESTS = "tests/dialects/test_clickhouse.py"


def regress_scripts():
    """{file name: text} of src/test/regress/sql/*.sql, fetched once."""
    if not glob.glob(os.path.join(REGRESS, "*.sql")):
        _fetch_regress()
    scripts = {}
    for path in sorted(glob.glob(os.path.join(REGRESS, "*.sql"))):
        with open(path, encoding="utf-8", errors="replace") as handle:
            scripts[os.path.basename(path)] = handle.read()
    return scripts


def psql_buffers():
    """Every query buffer psql would send for the regression scripts."""
    return [text for script in regress_scripts().values() for text in psql_split.split(script)]


def policy_cases():
    """The SQL of filter/tests/corpus/cases.txt, with its dialect: [(dialect, sql)]."""
    cases = []
    with open(CASES, encoding="utf-8") as handle:
        for line in handle:
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.rstrip("\n").split(" | ", 7)
            if len(fields) == 8:
                cases.append((fields[0].strip(), fields[7].replace("\\n", "\n")))
    return cases


def clickhouse_tests():
    """The ClickHouse SQL of fidelity/clickhouse.sql and of sqlglot's dialect tests: the first
    string argument of each call (its `validate_identity`, `validate_all`, `parse_one`) and the
    clickhouse entries of `read=` and `write=`. Texts that are no ClickHouse SQL (`write={"duckdb":
    ...}`) are not taken."""
    import sqlglot  # noqa: PLC0415 - the pinned version names the sdist to fetch

    path = os.path.join(SQLGLOT_TESTS, sqlglot.__version__, os.path.basename(CLICKHOUSE_TESTS))
    if not os.path.exists(path):
        _fetch_sqlglot_tests(sqlglot.__version__, path)
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    with open(CLICKHOUSE_FAMILIES, encoding="utf-8") as handle:
        texts = [line for line in handle if not line.startswith("--")]
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        first = node.args[:1]
        texts.extend(arg.value for arg in first if isinstance(arg, ast.Constant) and isinstance(arg.value, str))
        for keyword in node.keywords:
            if keyword.arg in ("read", "write") and isinstance(keyword.value, ast.Dict):
                texts.extend(value.value for key, value in zip(keyword.value.keys, keyword.value.values)
                             if isinstance(key, ast.Constant) and key.value == "clickhouse"
                             and isinstance(value, ast.Constant) and isinstance(value.value, str))  # fmt: skip
    return list(dict.fromkeys(text.strip() for text in texts if text.strip()))


def _fetch_sqlglot_tests(version, path):
    download = os.path.join(SQLGLOT_TESTS, "sdist")
    os.makedirs(download, exist_ok=True)
    _run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:", f"sqlglot=={version}",
          "-d", download], CACHE)  # fmt: skip
    tarball = _verified(os.path.join(download, f"sqlglot-{version}.tar.gz"))
    with tarfile.open(tarball) as archive:
        member = archive.getmember(f"sqlglot-{version}/{CLICKHOUSE_TESTS}")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as out:
            out.write(archive.extractfile(member).read())


def _fetch_regress():
    os.makedirs(os.path.join(APT, "lists", "partial"), exist_ok=True)
    os.makedirs(os.path.join(APT, "cache", "archives", "partial"), exist_ok=True)
    os.makedirs(os.path.join(APT, "parts"), exist_ok=True)
    with open(os.path.join(APT, "parts", "deb-src.sources"), "w") as handle:
        handle.write(_deb_src_stanzas())
    options = [
        "-o", "Dir::Etc::SourceList=/dev/null",
        "-o", f"Dir::Etc::SourceParts={os.path.join(APT, 'parts')}",
        "-o", f"Dir::State::Lists={os.path.join(APT, 'lists')}",
        "-o", f"Dir::Cache={os.path.join(APT, 'cache')}",
    ]  # fmt: skip
    _run(["apt-get", "-qq", *options, "update"], CACHE)
    download = os.path.join(APT, "source")
    os.makedirs(download, exist_ok=True)
    versions = _run(["apt-cache", *options, "madison", SOURCE_PACKAGE], CACHE).splitlines()
    versions = [line.split("|")[1].strip() for line in versions if "Sources" in line]
    for version in sorted(set(versions), key=_version_key, reverse=True):
        # A suite's index can name a version its pool no longer serves: try the next.
        result = subprocess.run(
            ["apt-get", "-qq", *options, "source", "--download-only", f"{SOURCE_PACKAGE}={version}"],
            cwd=download, capture_output=True, text=True,
        )  # fmt: skip
        tarballs = glob.glob(os.path.join(download, f"{SOURCE_PACKAGE}_{version.split('-')[0]}.orig.tar.*"))
        if result.returncode == 0 and tarballs:
            _extract_regress(_verified(tarballs[0]))
            return
    sys.exit(f"fidelity: no version of {SOURCE_PACKAGE} could be fetched ({', '.join(versions) or 'none listed'})")


def _deb_src_stanzas():
    """deb-src twins of the machine's deb entries (deb822 files and one-line sources.list)."""
    stanzas = []
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        with open(path) as handle:
            for stanza in re.split(r"\n\s*\n", handle.read()):
                fields = dict(re.findall(r"^([A-Za-z-]+):[ \t]*(.*)$", stanza, re.MULTILINE))
                if "deb" in fields.get("Types", "").split() and fields.get("Enabled", "yes") != "no":
                    fields["Types"] = "deb-src"
                    stanzas.append("\n".join(f"{key}: {value}" for key, value in fields.items()))
    for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
        if os.path.exists(path):
            with open(path) as handle:
                for line in handle:
                    stanzas.extend(_one_line_entry(line))
    if not stanzas:
        sys.exit("fidelity: the machine's apt sources name no deb entry to derive a deb-src one from")
    return "\n\n".join(stanzas) + "\n"


def _one_line_entry(line):
    match = re.match(r"^\s*deb\s+(\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.*)$", line)
    if not match:
        return []
    options, uri, suite, components = match.groups()
    signed = re.search(r"signed-by=(\S+?)[\s\]]", options or "")
    stanza = f"Types: deb-src\nURIs: {uri}\nSuites: {suite}\nComponents: {components.strip()}"
    return [stanza + (f"\nSigned-By: {signed.group(1)}" if signed else "")]


def _version_key(version):
    return [int(part) if part.isdigit() else part for part in re.split(r"[.+~-]", version)]


def _verified(tarball):
    """The tarball, if its sha256 is the recorded one; a tarball not recorded is reported."""
    digest = hashlib.sha256()
    with open(tarball, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    recorded = {}
    with open(os.path.join(HERE, "sources.sha256")) as handle:
        for line in handle:
            if line.strip() and not line.startswith("#"):
                sha, name = line.split()
                recorded[name] = sha
    name = os.path.basename(tarball)
    if name not in recorded:
        print(f"fidelity: {name} (sha256 {digest.hexdigest()}) is not in fidelity/sources.sha256;"
              " apt verified it against the signed .dsc", file=sys.stderr)  # fmt: skip
    elif recorded[name] != digest.hexdigest():
        sys.exit(f"fidelity: {name} has sha256 {digest.hexdigest()}, fidelity/sources.sha256 says {recorded[name]}")
    return tarball


def _extract_regress(tarball):
    os.makedirs(REGRESS, exist_ok=True)
    with tarfile.open(tarball) as archive:
        for member in archive:
            if member.isfile() and re.search(r"/src/test/regress/sql/[^/]+\.sql$", member.name):
                with open(os.path.join(REGRESS, os.path.basename(member.name)), "wb") as out:
                    out.write(archive.extractfile(member).read())


def _run(command, cwd):
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"fidelity: {' '.join(command[:2])} ... failed:\n{result.stderr[-2000:]}")
    return result.stdout
