//! Writes the seed corpora of the fuzz targets into `fuzz/corpus/<target>/`: real protocol
//! conversations built like the wire sessions' unit tests build them, the SQL of the policy
//! corpus (`filter/tests/corpus/cases.txt`) and hand-picked requests for every route kind.
//! Each seed is named by a hash of its bytes, so running it again adds nothing twice.
//!
//! `cargo run -p guardrails-fuzz --bin make-corpus`

use std::fs;
use std::path::Path;

use guardrails_fuzz::request;
use guardrails_fuzz::script::{encode, Side};
use serde_json::{json, Value};

/// Statements no corpus line has: multi-byte identifiers and text in every position.
const EXTRA_SQL: [&str; 8] = [
    "INSERT INTO tëst VALUES (1)",
    "INSERT INTO 注文 (名前) VALUES ('値')",
    "UPDATE ünïcode SET ä = 'ö' WHERE ß = 1",
    "SELECT '😀', \"列\" FROM \"表\" WHERE x = 'é'; DROP TABLE ☃",
    "COPY (SELECT 1) TO '/tmp/ñ.csv'",
    "SELECT $$ dollar $$, E'\\x41', U&'\\0041', X'41', B'01', N'n'",
    "/* ´ */ DELETE FROM t -- ¬\nWHERE id = 1",
    "WITH RECURSIVE r AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT * FROM r LIMIT 10",
];

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cases = fs::read_to_string(root.join("../filter/tests/corpus/cases.txt")).expect("the policy corpus");
    let mut sql: Vec<String> = cases
        .lines()
        .filter(|line| !line.starts_with('#') && line.contains('|'))
        .filter_map(|line| line.splitn(8, '|').nth(7))
        .map(|text| text.trim().replace("\\n", "\n"))
        .collect();
    sql.extend(EXTRA_SQL.iter().map(|s| s.to_string()));
    let corpus = root.join("corpus");
    write(&corpus.join("sql_analyze"), sql.iter().map(|s| s.as_bytes().to_vec()));
    write(&corpus.join("postgres_wire"), postgres::seeds(&sql));
    write(&corpus.join("mysql_wire"), mysql::seeds(&sql));
    write(&corpus.join("http_request"), requests(&sql));
}

fn write(dir: &Path, seeds: impl Iterator<Item = Vec<u8>>) {
    fs::create_dir_all(dir).expect("a corpus directory");
    for seed in seeds {
        fs::write(dir.join(format!("seed-{:016x}", fnv(&seed))), &seed).expect("a seed written");
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The policies of `request::policies`, by index.
const AGENTS_READONLY: u8 = 0;
const COLUMN_UPDATES: u8 = 1;
const CUSTOMER_API: u8 = 2;
const MCP_AGENTS: u8 = 3;
const REST_API: u8 = 6;
const WAREHOUSE: u8 = 7;
const SOURCES: u8 = 8;

const AGENT: [(&str, &str); 2] = [("x-agent-id", "agent:bot"), ("content-type", "application/json")];

/// A JSON request by an agent.
fn post(policy: u8, head: &str, body: &Value) -> Vec<u8> {
    request::encode(policy, head, &AGENT, Some(body.to_string().as_bytes()))
}

/// Requests for each policy and each way it carries an action.
fn requests(sql: &[String]) -> impl Iterator<Item = Vec<u8>> + '_ {
    let mut seeds = vec![
        post(AGENTS_READONLY, "POST /v1/query db.prod.internal", &json!({"query": "SELECT 1"})),
        post(COLUMN_UPDATES, "POST /sql h", &json!({"sql": "UPDATE t SET status = 1 WHERE id = 2"})),
        request::encode(CUSTOMER_API, "DELETE /api/customers/7 h", &AGENT, None),
        request::encode(
            REST_API,
            "POST /api/projects/42 h",
            &[("x-agent-id", "agent:bot"), ("x-http-method-override", "DELETE")],
            None,
        ),
        request::encode(REST_API, "GET /api/debug/x h", &[("x-ticket", "T-1")], None),
        post(REST_API, "POST /api/deploys h", &json!({"targets": [{"environment": "prod-eu"}, {"environment": "dev"}]})),
        post(
            WAREHOUSE,
            "POST /api/v2/statements h",
            &json!({"statement": "SELECT * FROM orders; DROP TABLE x", "sqlText": "SELECT 2"}),
        ),
        request::encode(
            WAREHOUSE,
            "POST /api/v2/statements h",
            &[("content-encoding", "gzip"), ("content-type", "application/json")],
            Some(&gzip_stored(br#"{"statement":"DROP TABLE t"}"#)),
        ),
    ];
    seeds.extend(mcp_and_graphql());
    seeds.extend(sources());
    // Corpus statements through the body route, sampled to keep the corpus small.
    seeds.extend(sql.iter().step_by(8).map(|text| request::encode(SOURCES, "POST /body h", &AGENT, Some(text.as_bytes()))));
    seeds.into_iter()
}

fn mcp_and_graphql() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for body in [
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "run_sql", "arguments": {"query": "DELETE FROM t"}}}),
        json!([{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, {"jsonrpc": "2.0", "method": "notifications/initialized"}]),
        json!({"jsonrpc": "2.0", "id": "a", "method": "resources/read", "params": {"uri": "secret://db/password"}}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "prompts/get", "params": {"name": "shell"}}),
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "delete_project", "arguments": {"force": true}}}),
    ] {
        seeds.push(post(MCP_AGENTS, "POST /mcp h", &body));
        seeds.push(post(SOURCES, "POST /mcp h", &body));
    }
    for document in [
        "mutation { deleteProject(id: 1) { id } }",
        "query Q($id: ID!) { project(id: $id) { name ...F } } fragment F on Project { owner { name } }",
        "{ a: __typename b: dropAll }",
        "subscription { events { id } }",
    ] {
        let body = json!({"query": document, "variables": {"id": 1}});
        seeds.push(post(REST_API, "POST /graphql h", &body));
        seeds.push(post(SOURCES, "POST /graphql h", &body));
        seeds.push(request::encode(SOURCES, &format!("GET /graphql?query={} h", document.replace(' ', "%20")), &AGENT, None));
    }
    seeds
}

/// The fuzz policy's routes: every preset and every source.
fn sources() -> Vec<Vec<u8>> {
    let bodies = [
        ("/snowflake", r#"{"statement":"SELECT 1","sqlText":"DROP TABLE t"}"#),
        ("/databricks", r#"{"statement":"DELETE FROM t"}"#),
        ("/trino", "SELECT * FROM t"),
        ("/presto", "DROP TABLE t"),
        ("/clickhouse?query=INSERT%20INTO%20t%20FORMAT%20CSV", "1,2"),
        ("/bigquery", r#"{"query":"SELECT 1","configuration":{"query":{"query":"DROP TABLE t"}}}"#),
        ("/neon", r#"{"queries":[{"query":"SELECT 1"},{"query":"TRUNCATE t"}]}"#),
        ("/hasura", r#"{"type":"bulk","args":[{"type":"run_sql","args":{"sql":"DROP TABLE t"}}]}"#),
        ("/d1", r#"{"batch":[{"sql":"DELETE FROM t"}]}"#),
        ("/body", "DELETE FROM t"),
        ("/json", r#"{"q":"UPDATE t SET a = 1"}"#),
        ("/form", "sql=DROP+TABLE+t&x=%41"),
    ];
    let mut seeds: Vec<Vec<u8>> = bodies
        .iter()
        .map(|(path, body)| request::encode(SOURCES, &format!("POST {path} h"), &AGENT, Some(body.as_bytes())))
        .collect();
    seeds.push(request::encode(SOURCES, "GET /query?sql=DROP%20TABLE%20t h", &AGENT, None));
    let prepared = [("x-trino-prepared-statement", "a=DELETE%20FROM%20t,b=SELECT%201")];
    seeds.push(request::encode(SOURCES, "POST /trino h", &prepared, Some(b"EXECUTE a")));
    seeds
}

/// A gzip member holding `data` in one stored deflate block.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255, 1];
    let length = u16::try_from(data.len()).expect("a short body");
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(&(!length).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&u32::try_from(data.len()).expect("a short body").to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    !data
        .iter()
        .fold(!0u32, |crc, &b| (0..8).fold(crc ^ u32::from(b), |c, _| if c & 1 == 1 { (c >> 1) ^ 0xedb8_8320 } else { c >> 1 }))
}

/// Conversations in protocol 3, as `wire::postgres`'s tests build them.
mod postgres {
    use super::{encode, Side};

    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let length = u32::try_from(body.len() + 4).expect("a short message");
        [vec![kind], length.to_be_bytes().to_vec(), body.to_vec()].concat()
    }

    fn startup(params: &[(&str, &str)]) -> Vec<u8> {
        let mut body = 196_608u32.to_be_bytes().to_vec();
        for (key, value) in params {
            body.extend_from_slice(format!("{key}\0{value}\0").as_bytes());
        }
        body.push(0);
        let length = u32::try_from(body.len() + 4).expect("a short packet");
        [length.to_be_bytes().to_vec(), body].concat()
    }

    fn query(sql: &str) -> Vec<u8> {
        message(b'Q', format!("{sql}\0").as_bytes())
    }

    fn parse(name: &str, sql: &str) -> Vec<u8> {
        message(b'P', format!("{name}\0{sql}\0\0\0").as_bytes())
    }

    fn ready() -> Vec<u8> {
        message(b'Z', b"I")
    }

    fn welcome() -> Vec<u8> {
        [
            message(b'R', &[0, 0, 0, 0]),
            message(b'S', b"server_version\x0015\0"),
            message(b'K', &[0, 0, 0, 1, 0, 0, 0, 2]),
            ready(),
        ]
        .concat()
    }

    /// A Sync segment with a Parse the judge denies, and the server's answer to it rewritten.
    fn extended() -> (Vec<u8>, Vec<u8>) {
        let client = [
            parse("", "SELECT 1"),
            message(b'B', b"\0\0\0\0\0\0\0\0"),
            message(b'E', b"\0\0\0\0\0"),
            parse("s2", "DROP TABLE t"),
            message(b'B', b"\0s2\0\0\0\0\0\0\0"),
            message(b'E', b"\0\0\0\0\0"),
            message(b'S', b""),
            query("SELECT 3"),
        ]
        .concat();
        let answer = [
            message(b'1', b""),
            message(b'2', b""),
            message(b'D', b"\0\x01\0\0\0\x011"),
            message(b'C', b"SELECT 1\0"),
            message(b'1', b""),
            ready(),
            message(b'C', b"SELECT 1\0"),
            ready(),
        ]
        .concat();
        (client, answer)
    }

    pub fn seeds(sql: &[String]) -> impl Iterator<Item = Vec<u8>> + '_ {
        let hello = startup(&[("user", "agent"), ("database", "shop"), ("application_name", "bot")]);
        let answer = [message(b'I', b""), ready(), message(b'C', b"SELECT 1\0"), ready()].concat();
        let (extended, extended_answer) = extended();
        let ssl = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
        let cancel = [0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 1, 0, 0, 0, 2];
        let copy = [query("COPY t FROM STDIN"), message(b'd', b"1\t2\n"), message(b'c', b"")].concat();
        let call = message(b'F', &[0, 0, 0, 42, 0, 0, 0, 0, 0, 0]);
        let mut seeds = vec![
            encode(
                1,
                &[
                    (Side::Client, 7, &hello),
                    (Side::Server, 128, &welcome()),
                    (Side::Client, 128, &query("SELECT 1; DROP TABLE t")),
                ],
            ),
            encode(
                1,
                &[
                    (Side::Client, 128, &hello),
                    (Side::Server, 128, &welcome()),
                    (Side::Client, 3, &[query("DROP TABLE orders"), query("SELECT 2")].concat()),
                    (Side::Server, 5, &answer),
                ],
            ),
            encode(
                1,
                &[
                    (Side::Client, 128, &hello),
                    (Side::Server, 128, &welcome()),
                    (Side::Client, 11, &extended),
                    (Side::Server, 4, &extended_answer),
                ],
            ),
            encode(
                1,
                &[(Side::Client, 8, &ssl), (Side::Server, 1, b"N"), (Side::Client, 128, &hello), (Side::Server, 128, &welcome())],
            ),
            encode(1, &[(Side::Client, 8, &ssl), (Side::Server, 1, b"S")]),
            encode(1, &[(Side::Client, 16, &cancel)]),
            encode(
                0,
                &[(Side::Client, 128, &hello), (Side::Server, 128, &welcome()), (Side::Client, 50, &query(&"x".repeat(500)))],
            ),
            encode(0, &[(Side::Client, 128, &hello), (Side::Client, 1, &call), (Side::Client, 128, &query("SELECT '\u{fffd}'"))]),
            encode(1, &[(Side::Client, 128, &hello), (Side::Server, 128, &welcome()), (Side::Client, 9, &copy)]),
            // Lengths the arithmetic must not wrap on.
            encode(1, &[(Side::Client, 128, &hello), (Side::Client, 128, &[b'Q', 0xff, 0xff, 0xff, 0xff, b'x'])]),
            encode(1, &[(Side::Client, 128, &[0xff, 0xff, 0xff, 0xff, 0, 3, 0, 0])]),
            encode(1, &[(Side::Client, 128, &hello), (Side::Server, 128, &[b'D', 0xff, 0xff, 0xff, 0xff])]),
        ];
        seeds.extend(sql.iter().step_by(6).map(move |text| {
            let client = [query(text), parse("s", text), message(b'S', b"")].concat();
            encode(
                2,
                &[(Side::Client, 128, &startup(&[("user", "u")])), (Side::Server, 128, &welcome()), (Side::Client, 13, &client)],
            )
        }));
        seeds.into_iter()
    }
}

/// Conversations in the MySQL protocol, as `wire::mysql`'s tests build them.
mod mysql {
    use super::{encode, Side};

    const CAPS: u32 = 0x0008 | 0x0200 | 0x8000 | 0x0008_0000 | 0x0010_0000;
    const CLIENT_SSL: u32 = 0x0800;

    fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
        let n = payload.len();
        let [a, b, c, _] = u32::try_from(n).expect("a short packet").to_le_bytes();
        [vec![a, b, c, seq], payload.to_vec()].concat()
    }

    fn greeting(caps: u32) -> Vec<u8> {
        let mut g = vec![10];
        g.extend_from_slice(b"11.8.3-MariaDB\0");
        g.extend_from_slice(&7u32.to_le_bytes());
        g.extend_from_slice(b"12345678\0");
        g.extend_from_slice(&caps.to_le_bytes()[..2]);
        g.push(45);
        g.extend_from_slice(&2u16.to_le_bytes());
        g.extend_from_slice(&caps.to_le_bytes()[2..]);
        g.push(21);
        g.extend_from_slice(&[0; 10]);
        g.extend_from_slice(b"abcdefghijkl\0mysql_native_password\0");
        packet(0, &g)
    }

    fn handshake(caps: u32) -> Vec<u8> {
        let mut h = caps.to_le_bytes().to_vec();
        h.extend_from_slice(&(1u32 << 24).to_le_bytes());
        h.push(45);
        h.extend_from_slice(&[0; 23]);
        h.extend_from_slice(b"agent\0");
        h.push(20);
        h.extend_from_slice(&[9; 20]);
        h.extend_from_slice(b"shop\0mysql_native_password\0");
        let attrs = [&[12u8][..], b"program_name", &[3], b"bot"].concat();
        h.push(u8::try_from(attrs.len()).expect("short attributes"));
        h.extend_from_slice(&attrs);
        packet(1, &h)
    }

    fn command(kind: u8, text: &str) -> Vec<u8> {
        packet(0, &[&[kind][..], text.as_bytes()].concat())
    }

    pub fn seeds(sql: &[String]) -> impl Iterator<Item = Vec<u8>> + '_ {
        let ok = packet(2, &[0, 0, 0, 2, 0, 0, 0]);
        let connect =
            [(Side::Server, 128, greeting(CAPS | CLIENT_SSL)), (Side::Client, 128, handshake(CAPS)), (Side::Server, 128, ok)];
        let result = [
            packet(1, &[1]),
            packet(2, b"\x03def\0\0\0\x011\0\x0c?\0\x01\0\0\0\x08\x81\0\0\0\0"),
            packet(3, &[0xfe, 0, 0, 2, 0]),
        ]
        .concat();
        let with = move |more: &[(Side, usize, &[u8])]| {
            let mut events: Vec<(Side, usize, &[u8])> = connect.iter().map(|(s, p, b)| (*s, *p, b.as_slice())).collect();
            events.extend_from_slice(more);
            encode(1, &events)
        };
        let ping_ok = packet(1, &[0, 0, 0, 2, 0, 0, 0]);
        let mut seeds = vec![
            with(&[(Side::Client, 5, &command(3, "SELECT 1")), (Side::Server, 7, &result)]),
            with(&[(Side::Client, 5, &command(3, "SELECT 1; DROP TABLE orders")), (Side::Server, 3, &ping_ok)]),
            with(&[(Side::Client, 9, &[command(3, "SELECT 1"), command(0x16, "DROP TABLE t"), command(2, "other")].concat())]),
            with(&[(Side::Client, 128, &command(0x12, "\0\0\0\0")), (Side::Server, 128, &ping_ok)]),
            with(&[(Side::Client, 128, &packet(0, b"")), (Side::Client, 128, &command(1, ""))]),
            encode(
                0,
                &[
                    (Side::Server, 128, &greeting(CAPS)),
                    (Side::Client, 128, &handshake(CAPS)),
                    (Side::Client, 128, &command(3, &"x".repeat(300))),
                ],
            ),
            encode(
                1,
                &[
                    (Side::Server, 128, &greeting(CAPS)),
                    (Side::Client, 128, &packet(1, &[(CAPS | CLIENT_SSL).to_le_bytes().to_vec(), vec![0; 28]].concat())),
                ],
            ),
            // A handshake and a query in one write; a 16 MiB - 1 length claimed.
            encode(
                1,
                &[
                    (Side::Server, 128, &greeting(CAPS)),
                    (Side::Client, 128, &[handshake(CAPS), command(3, "DROP TABLE t")].concat()),
                ],
            ),
            with(&[(Side::Client, 128, &[0xff, 0xff, 0xff, 0, 3, b'x'])]),
        ];
        seeds.extend(sql.iter().step_by(6).map(move |text| {
            with(&[(Side::Client, 17, &[command(3, text), command(0x16, text)].concat()), (Side::Server, 128, &ping_ok)])
        }));
        seeds.into_iter()
    }
}
