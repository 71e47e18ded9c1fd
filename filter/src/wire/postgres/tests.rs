use super::messages::{denied_parse, denied_query, typed};
use super::*;
use crate::sql::{analyze_each_as, Dialect, Lexing, Operation, SearchPath};
use crate::wire::{Context, Inspect, Session as _, Verdict};

fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    typed(kind, body)
}

fn startup(params: &[(&str, &str)]) -> Vec<u8> {
    let mut body = 196_608u32.to_be_bytes().to_vec();
    for (k, v) in params {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut p = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    p.extend_from_slice(&body);
    p
}

fn query(sql: &str) -> Vec<u8> {
    query_bytes(sql.as_bytes())
}

fn query_bytes(sql: &[u8]) -> Vec<u8> {
    message(b'Q', &[sql, b"\0"].concat())
}

fn parse(name: &str, sql: &str) -> Vec<u8> {
    message(b'P', format!("{name}\0{sql}\0\0\0").as_bytes())
}

fn bind() -> Vec<u8> {
    message(b'B', b"\0\0\0\0\0\0\0\0")
}

fn execute() -> Vec<u8> {
    message(b'E', b"\0\0\0\0\0")
}

fn sync() -> Vec<u8> {
    message(b'S', b"")
}

fn ready() -> Vec<u8> {
    ready_in(b'I')
}

fn ready_in(status: u8) -> Vec<u8> {
    message(b'Z', &[status])
}

fn status(name: &str, value: &str) -> Vec<u8> {
    message(b'S', format!("{name}\0{value}\0").as_bytes())
}

fn complete(tag: &str) -> Vec<u8> {
    message(b'C', format!("{tag}\0").as_bytes())
}

/// An ErrorResponse as the server writes one.
fn server_error(sqlstate: &str, text: &str) -> Vec<u8> {
    message(b'E', format!("SERROR\0VERROR\0C{sqlstate}\0M{text}\0P1\0Fscan.l\0\0").as_bytes())
}

/// The server's error for our rewritten message.
fn our_syntax_error() -> Vec<u8> {
    server_error("42601", "syntax error at or near \"guardrails_denied\"")
}

fn denial() -> Vec<u8> {
    error_response(DENIED_SQLSTATE, "denied by rule \"no-drops\"")
}

/// Denies what the analyzer reads as a drop or truncate in any of the context's lexings, as
/// the engine does; reports the statements' session changes.
fn judge(inspect: Inspect<'_>) -> Verdict {
    match inspect {
        Inspect::Sql { text, context } => {
            let default = [Lexing::default_for(Dialect::Postgres)];
            let lexings = if context.lexings.is_empty() { &default[..] } else { &context.lexings };
            let mut changes = Vec::new();
            for &lexing in lexings {
                for analysis in analyze_each_as(text, Dialect::Postgres, lexing) {
                    let intent = match &analysis {
                        Ok(intent) => intent,
                        Err(unparsed) => &unparsed.suspected,
                    };
                    if intent.operations.contains(Operation::Drop) || intent.operations.contains(Operation::Truncate) {
                        return Verdict::Deny { message: "denied by rule \"no-drops\"".into() };
                    }
                    changes.extend(intent.session.clone());
                }
            }
            Verdict::Allow { changes }
        }
        Inspect::Startup { .. } => Verdict::ALLOW,
        Inspect::Unreadable { .. } | Inspect::Oversize { .. } => Verdict::Deny { message: "unreadable".into() },
    }
}

fn forward(next: Next) -> Vec<u8> {
    match next {
        Next::Forward(bytes) => bytes,
        Next::Close(why) => panic!("closed: {why}"),
    }
}

/// Feeds `data` in pieces cut at `cuts`; the concatenated output.
fn feed(session: &mut Session, data: &[u8], cuts: &[usize], client: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut last = 0;
    for &cut in cuts.iter().chain(std::iter::once(&data.len())) {
        let piece = &data[last..cut];
        out.extend(forward(if client { session.client_data(piece, &mut judge) } else { session.server_data(piece) }));
        last = cut;
    }
    out
}

/// Both ways cut at every single place: the output does not depend on where.
fn every_cut(session: &Session, data: &[u8], client: bool) -> Vec<u8> {
    let whole = feed(&mut session.clone(), data, &[], client);
    for cut in 1..data.len() {
        assert_eq!(feed(&mut session.clone(), data, &[cut], client), whole, "cut at {cut}");
    }
    let every: Vec<usize> = (1..data.len()).collect();
    assert_eq!(feed(&mut session.clone(), data, &every, client), whole, "cut everywhere");
    whole
}

fn started_with(params: &[(&str, &str)], reports: &[(&str, &str)]) -> Session {
    let mut s = Session::new(1024);
    let hello = startup(params);
    assert_eq!(forward(s.client_data(&hello, &mut judge)), hello);
    let mut welcome = message(b'R', &[0, 0, 0, 0]);
    for (name, value) in reports {
        welcome.extend(status(name, value));
    }
    welcome.extend(ready());
    assert_eq!(forward(s.server_data(&welcome)), welcome);
    s
}

fn started() -> Session {
    let s = started_with(
        &[("user", "agent"), ("database", "shop"), ("application_name", "bot")],
        &[("client_encoding", "UTF8"), ("standard_conforming_strings", "on")],
    );
    assert_eq!(s.startup().unwrap()[2], ("application_name".to_string(), "bot".to_string()));
    s
}

/// What the judge was shown for each SQL text `data` carries.
fn shown(s: &mut Session, data: &[u8]) -> Vec<(String, Context)> {
    let mut seen = Vec::new();
    forward(s.client_data(data, &mut |inspect| {
        if let Inspect::Sql { text, context } = &inspect {
            seen.push((text.to_string(), (*context).clone()));
        }
        judge(inspect)
    }));
    seen
}

fn standard() -> Lexing {
    Lexing::default_for(Dialect::Postgres)
}

fn escaping() -> Lexing {
    Lexing { backslash_escapes: true, ..standard() }
}

#[test]
fn allowed_traffic_passes_byte_for_byte_however_it_is_cut() {
    let mut client = startup(&[("user", "u")]);
    client.extend(query("SELECT 1; SELECT 2"));
    client.extend(parse("s1", "SELECT $1"));
    client.extend(message(b'B', b"\0s1\0\0\0\0\0\0\0"));
    client.extend(message(b'd', &[7u8; 300]));
    client.extend(sync());
    assert_eq!(every_cut(&Session::new(1024), &client, true), client);
    let answer =
        [status("client_encoding", "UTF8"), ready(), message(b'T', &[0; 40]), server_error("22012", "division by zero"), ready()]
            .concat();
    assert_eq!(every_cut(&started(), &answer, false), answer);
}

#[test]
fn a_denied_query_fails_on_the_server_and_its_error_becomes_ours() {
    let mut s = started();
    let sent = [query("select 1; /* x */ dRoP TABLE orders"), query("SELECT 2")].concat();
    assert_eq!(every_cut(&s, &sent, true), [denied_query(), query("SELECT 2")].concat());
    assert_eq!(denied_query(), b"Q\0\0\0\x16guardrails_denied\0");
    forward(s.client_data(&sent, &mut judge));
    let answer = [our_syntax_error(), ready(), complete("SELECT 1"), ready()].concat();
    let got = every_cut(&s, &answer, false);
    assert_eq!(got, [denial(), ready(), complete("SELECT 1"), ready()].concat());
    assert!(String::from_utf8_lossy(&denial()).contains("42501"));
}

#[test]
fn in_a_transaction_the_denial_aborts_it_and_later_errors_pass_unchanged() {
    let mut s = started();
    let sent =
        [query("BEGIN"), query("INSERT INTO t VALUES (1)"), query("DROP TABLE t"), query("SELECT 1"), query("COMMIT")].concat();
    assert_eq!(forward(s.client_data(&sent, &mut judge)), sent.replace(&query("DROP TABLE t"), &denied_query()));
    let aborted = server_error("25P02", "current transaction is aborted, commands ignored until end of transaction block");
    let answer = [
        complete("BEGIN"),
        ready_in(b'T'),
        complete("INSERT 0 1"),
        ready_in(b'T'),
        our_syntax_error(),
        ready_in(b'E'),
        aborted.clone(),
        ready_in(b'E'),
        complete("ROLLBACK"),
        ready(),
    ]
    .concat();
    let want = answer.replace(&our_syntax_error(), &denial());
    assert_eq!(every_cut(&s, &answer, false), want, "the statuses and the 25P02 pass as the server sent them");
}

#[test]
fn a_denied_parse_fails_its_segment_on_the_server() {
    let mut s = started();
    let sent = [parse("", "INSERT INTO t VALUES (1)"), bind(), execute(), parse("s2", "DROP TABLE t"), bind(), execute(), sync()]
        .concat();
    let forwarded = every_cut(&s, &sent, true);
    let want = [parse("", "INSERT INTO t VALUES (1)"), bind(), execute(), denied_parse(), bind(), execute(), sync()].concat();
    assert_eq!(forwarded, want, "the rest of the segment goes on: the server discards it");
    assert_eq!(denied_parse(), b"P\0\0\0\x19\0guardrails_denied\0\0\0");
    forward(s.client_data(&sent, &mut judge));
    let answer = [message(b'1', b""), message(b'2', b""), complete("INSERT 0 1"), our_syntax_error(), ready()].concat();
    let want = [message(b'1', b""), message(b'2', b""), complete("INSERT 0 1"), denial(), ready()].concat();
    assert_eq!(every_cut(&s, &answer, false), want);
}

#[test]
fn a_clients_own_error_before_the_rewritten_parse_is_not_taken_for_ours() {
    let mut s = started();
    let sent = [parse("", "guardrails_denied"), parse("", "DROP TABLE t"), sync(), query("SELECT 1")].concat();
    forward(s.client_data(&sent, &mut judge));
    // The client's first Parse fails: the server skips the rest of the segment.
    let answer = [our_syntax_error(), ready(), server_error("42601", "syntax error at or near \"SELEC\""), ready()].concat();
    assert_eq!(every_cut(&s, &answer, false), answer);
    forward(s.server_data(&answer));
    assert_eq!(pending_denials(&s), 0);
}

#[test]
fn an_error_of_another_kind_in_the_denials_segment_passes() {
    let mut s = started();
    forward(s.client_data(&[parse("", "SELECT 1/0"), bind(), execute(), parse("", "DROP TABLE t"), sync()].concat(), &mut judge));
    let answer = [message(b'1', b""), message(b'2', b""), server_error("22012", "division by zero"), ready()].concat();
    assert_eq!(every_cut(&s, &answer, false), answer);
}

#[test]
fn a_huge_error_streams_untouched_and_is_not_held() {
    let mut s = started();
    forward(s.client_data(&query("DROP TABLE t"), &mut judge));
    let huge = server_error("42601", &format!("guardrails_denied {}", "x".repeat(70_000)));
    let mut out = Vec::new();
    for chunk in huge.chunks(1000) {
        out.extend(forward(s.server_data(chunk)));
        assert!(held(&s).1 < 5);
    }
    assert_eq!(out, huge);
    assert_eq!(forward(s.server_data(&ready_in(b'I'))), ready(), "the denial ended with its segment");
    assert_eq!(pending_denials(&s), 0);
}

#[test]
fn the_servers_report_of_standard_conforming_strings_decides_the_lexing() {
    // With the setting off, `'x\', '` is one string and the DROP runs.
    let hidden = "SELECT 'x\\', ' ; DROP TABLE t; --'";
    let mut s = started();
    assert_eq!(shown(&mut s, &query(hidden))[0].1.lexings, [standard()]);
    forward(s.server_data(&[complete("SELECT 1"), ready()].concat()));
    forward(s.client_data(&query("SET standard_conforming_strings = off"), &mut judge));
    // Sent before the server answered the SET: read both ways, and one of them sees the DROP.
    let seen = shown(&mut s, &query(hidden));
    assert_eq!(seen[0].1.lexings, [standard(), escaping()]);
    let answer = [complete("SET"), status("standard_conforming_strings", "off"), ready(), message(b'I', b""), ready()];
    forward(s.server_data(&answer.concat()));
    assert_eq!(forward(s.client_data(&query(hidden), &mut judge)), denied_query());
    assert_eq!(shown(&mut s, &query("SELECT 'plain'"))[0].1.lexings, [standard()], "no backslash: one reading");
}

#[test]
fn startup_options_set_the_lexing_until_the_server_reports_it() {
    let options = ("options", "-c standard_conforming_strings=off");
    let hidden = query("SELECT 'x\\', ' ; DROP TABLE t; --'");
    // Sent right behind the startup packet, before the server answered it.
    let mut s = Session::new(1024);
    let sent = [startup(&[("user", "u"), options]), hidden.clone()].concat();
    assert_eq!(every_cut(&s, &sent, true), [startup(&[("user", "u"), options]), denied_query()].concat());
    forward(s.client_data(&startup(&[("user", "u"), options]), &mut judge));
    forward(s.server_data(&[status("standard_conforming_strings", "off"), ready()].concat()));
    assert_eq!(shown(&mut s, &hidden)[0].1.lexings, [escaping()]);
    // The server's report wins over the startup's.
    let s = started_with(&[("user", "u"), options], &[("standard_conforming_strings", "on")]);
    assert_eq!(every_cut(&s, &hidden, true), hidden);
}

#[test]
fn pipelined_behind_an_unanswered_message_both_readings_are_judged() {
    let hidden = parse("", "SELECT 'x\\', ' ; DROP TABLE t; --'");
    let s = started();
    assert_eq!(every_cut(&s, &hidden, true), hidden, "on: a harmless string");
    // A function could change the setting: anything unanswered makes the reading unsure.
    let sent = [parse("", "SELECT f()"), bind(), execute(), hidden.clone(), sync()].concat();
    let forwarded = every_cut(&s, &sent, true);
    assert_eq!(forwarded, [parse("", "SELECT f()"), bind(), execute(), denied_parse(), sync()].concat());
}

fn sjis(text: &str) -> Vec<u8> {
    encoding_rs::SHIFT_JIS.encode(text).0.into_owned()
}

#[test]
fn sjis_text_is_read_as_the_server_reads_it() {
    // 表 is 0x95 0x5c in Shift JIS: read byte by byte, E'..\' would swallow the DROP.
    let hidden = sjis("SELECT E'表' ; DROP TABLE t; --'");
    assert!(hidden.windows(2).any(|w| w == [0x95, 0x5c]));
    let s = started_with(&[("user", "u"), ("client_encoding", "SJIS")], &[("client_encoding", "SJIS")]);
    assert_eq!(every_cut(&s, &query_bytes(&hidden), true), denied_query());
    let harmless = query_bytes(&sjis("SELECT '表', E'表\\\\'"));
    assert_eq!(every_cut(&s, &harmless, true), harmless);
    assert_eq!(shown(&mut s.clone(), &harmless)[0].0, "SELECT '表', E'表\\\\'");
    // In UTF-8 the same bytes are no text.
    assert_eq!(every_cut(&started(), &query_bytes(&sjis("SELECT '表'")), true), denied_query());
}

#[test]
fn a_set_client_encoding_is_followed_from_the_servers_report() {
    let mut s = started();
    let hidden = query_bytes(&sjis("SELECT E'表' ; DROP TABLE t; --'"));
    forward(s.client_data(&query("SET client_encoding = 'SJIS'"), &mut judge));
    // Pipelined behind the SET: read in both the old and the named encoding.
    assert_eq!(every_cut(&s, &hidden, true), denied_query());
    forward(s.server_data(&[complete("SET"), status("client_encoding", "SJIS"), ready()].concat()));
    assert_eq!(every_cut(&s, &hidden, true), denied_query());
    let harmless = query_bytes(&sjis("SELECT '表'"));
    assert_eq!(every_cut(&s, &harmless, true), harmless);
    // An encoding the filter cannot decode: only ASCII text reads.
    forward(s.server_data(&status("client_encoding", "EUC_TW")));
    assert_eq!(every_cut(&s, &harmless, true), denied_query());
    assert_eq!(every_cut(&s, &query("SELECT 1"), true), query("SELECT 1"));
}

#[test]
fn a_set_config_of_client_encoding_is_followed_like_a_set() {
    // LATIN1 reads 0x95 0x5c as two characters, the second a backslash that escapes the
    // quote: one harmless string. The server, once in SJIS, runs the DROP.
    let mut s = started_with(&[("user", "u"), ("client_encoding", "LATIN1")], &[("client_encoding", "LATIN1")]);
    let hidden = query_bytes(&sjis("SELECT E'表' ; DROP TABLE t; --'"));
    assert_eq!(every_cut(&s, &hidden, true), hidden, "the same bytes are one string in LATIN1");
    forward(s.client_data(&query("SELECT set_config('client_encoding', 'SJIS', false)"), &mut judge));
    assert_eq!(every_cut(&s, &hidden, true), denied_query());
}

fn path(schemas: &[&str]) -> Option<SearchPath> {
    Some(SearchPath::known(Dialect::Postgres, schemas.iter().map(|s| s.to_string()).collect()))
}

fn path_shown(s: &mut Session) -> Option<SearchPath> {
    shown(s, &query("SELECT 1")).remove(0).1.search_path
}

#[test]
fn a_search_path_holds_once_the_server_ran_it_outside_a_transaction() {
    let mut s = started();
    assert_eq!(path_shown(&mut s), None, "the route's");
    forward(s.server_data(&[complete("SELECT 1"), ready()].concat()));
    forward(s.client_data(&query("SET search_path = secret, \"$user\""), &mut judge));
    assert_eq!(path_shown(&mut s), Some(SearchPath::Unknown), "not answered yet");
    forward(s.server_data(&[complete("SET"), ready(), complete("SELECT 1"), ready()].concat()));
    assert_eq!(path_shown(&mut s), path(&["secret", "agent"]));
    forward(s.server_data(&[complete("SELECT 1"), ready()].concat()));
    forward(s.client_data(&query("RESET ALL"), &mut judge));
    forward(s.server_data(&[complete("RESET"), ready()].concat()));
    assert_eq!(path_shown(&mut s), None, "back to the start");
}

#[test]
fn a_search_path_that_may_be_rolled_back_or_failed_is_unknown() {
    for answer in [
        [complete("SET"), ready_in(b'T')].concat(),
        [server_error("22023", "invalid value"), ready()].concat(),
        [complete("SET"), ready_in(b'E')].concat(),
    ] {
        let mut s = started();
        forward(s.client_data(&query("SET search_path = secret"), &mut judge));
        forward(s.server_data(&answer));
        assert_eq!(path_shown(&mut s), Some(SearchPath::Unknown));
    }
    // A prepared statement may set it at any Execute.
    let mut s = started();
    forward(s.client_data(&[parse("", "SET search_path = secret"), bind(), execute(), sync()].concat(), &mut judge));
    forward(s.server_data(&[message(b'1', b""), message(b'2', b""), complete("SET"), ready()].concat()));
    forward(s.client_data(&query("SET search_path = public"), &mut judge));
    forward(s.server_data(&[complete("SET"), ready(), complete("SELECT 1"), ready()].concat()));
    assert_eq!(path_shown(&mut s), Some(SearchPath::Unknown));
}

#[test]
fn startup_options_set_the_first_search_path() {
    let mut s = started_with(&[("user", "u"), ("options", "-c search_path=secret")], &[]);
    assert_eq!(path_shown(&mut s), path(&["secret"]));
    forward(s.server_data(&[complete("SELECT 1"), ready()].concat()));
    forward(s.client_data(&query("SET search_path = public"), &mut judge));
    forward(s.server_data(&[complete("SET"), ready()].concat()));
    assert_eq!(path_shown(&mut s), path(&["public"]));
    forward(s.server_data(&[complete("SELECT 1"), ready()].concat()));
    forward(s.client_data(&query("SET search_path TO DEFAULT"), &mut judge));
    forward(s.server_data(&[complete("SET"), ready()].concat()));
    assert_eq!(path_shown(&mut s), path(&["secret"]), "the startup's, as RESET gives");
}

#[test]
fn encryption_must_be_refused_by_the_server() {
    let mut s = Session::new(1024);
    let ssl = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
    assert_eq!(forward(s.client_data(&ssl, &mut judge)), ssl);
    assert_eq!(forward(s.server_data(b"N")), b"N");
    let hello = startup(&[("user", "u")]);
    assert_eq!(forward(s.client_data(&hello, &mut judge)), hello);

    let mut s = Session::new(1024);
    forward(s.client_data(&ssl, &mut judge));
    assert!(matches!(s.server_data(b"S"), Next::Close(_)));
}

#[test]
fn oversize_and_unreadable_messages_are_judged_and_never_held_whole() {
    let mut s = Session::new(64);
    forward(s.client_data(&startup(&[("user", "u")]), &mut judge));
    let big = query(&"x".repeat(10_000));
    let mut out = Vec::new();
    for chunk in big.chunks(100) {
        out.extend(forward(s.client_data(chunk, &mut judge)));
        assert!(held(&s).0 <= 64 + 5);
    }
    assert_eq!(out, denied_query());
    let call = message(b'F', &[0, 0, 0, 42, 0, 0, 0, 0, 0, 0]);
    assert_eq!(forward(s.client_data(&call, &mut judge)), denied_query());
    let invalid = message(b'Q', b"SELECT '\xff'\0");
    assert_eq!(forward(s.client_data(&invalid, &mut judge)), denied_query());
}

#[test]
fn unanswered_denials_are_bounded() {
    let mut s = started();
    let denied = query("DROP TABLE t");
    for _ in 0..MAX_UNANSWERED {
        assert_eq!(forward(s.client_data(&denied, &mut judge)), denied_query());
    }
    assert!(matches!(s.client_data(&denied, &mut judge), Next::Close(_)));
}

#[test]
fn garbage_closes_the_connection() {
    let mut s = Session::new(64);
    assert!(matches!(s.client_data(b"GET / HTTP/1.1\r\n\r\n", &mut judge), Next::Close(_)));
    let mut s = started();
    assert!(matches!(s.client_data(&[b'Q', 0, 0, 0, 2], &mut judge), Next::Close(_)));
    let mut s = Session::new(64);
    let v2 = [0, 0, 0, 8, 0, 2, 0, 0];
    assert!(matches!(s.client_data(&v2, &mut judge), Next::Close(_)));
}

#[test]
fn random_bytes_never_panic_and_buffers_stay_bounded() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..2000 {
        let mut s = if round % 2 == 0 { started() } else { Session::new(64) };
        let len = (next() % 400) as usize;
        // Mostly protocol-shaped: a known type byte now and then, small lengths.
        let bytes: Vec<u8> = (0..len)
            .map(|i| match next() % 8 {
                0 if i % 7 == 0 => b"QPFSBEHXdcf1IZ"[(next() % 14) as usize],
                1 => 0,
                _ => next() as u8,
            })
            .collect();
        for chunk in bytes.chunks(1 + (next() % 50) as usize) {
            if let Next::Close(_) = s.client_data(chunk, &mut judge) {
                break;
            }
            assert!(held(&s).0 <= MAX_STARTUP as usize);
        }
        for chunk in bytes.chunks(1 + (next() % 50) as usize) {
            if let Next::Close(_) = s.server_data(chunk) {
                break;
            }
            assert!(held(&s).1 <= MAX_HELD as usize);
        }
    }
}

fn held(s: &Session) -> (usize, usize) {
    (s.client.held(), s.server.held())
}

fn pending_denials(s: &Session) -> usize {
    s.state.denials.len()
}

/// A message header claiming `length`, without its body.
fn claimed(kind: u8, length: u32) -> Vec<u8> {
    [vec![kind], length.to_be_bytes().to_vec()].concat()
}

#[test]
fn client_lengths_below_the_length_field_close_the_connection() {
    for kind in [b'Q', b'P', b'D', b'X'] {
        for length in [0, 3] {
            let mut s = started();
            assert!(matches!(s.client_data(&claimed(kind, length), &mut judge), Next::Close(_)), "{} {length}", kind as char);
        }
    }
}

#[test]
fn a_client_length_of_4_gib_streams_through_without_wrapping() {
    let chunk = [b'x'; 64 * 1024];
    for kind in [b'Q', b'P', b'D', b'X'] {
        let mut s = started();
        let head = claimed(kind, u32::MAX);
        let mut out = forward(s.client_data(&head, &mut judge));
        for _ in 0..16 {
            out.extend(forward(s.client_data(&chunk, &mut judge)));
            assert!(held(&s).0 <= 1024 + 5);
            assert!(pending_denials(&s) <= 1);
        }
        let want = match kind {
            b'Q' => denied_query(),
            b'P' => denied_parse(),
            _ => [head, chunk.repeat(16)].concat(),
        };
        assert!(out == want, "{}: {} bytes forwarded", kind as char, out.len());
    }
}

#[test]
fn server_lengths_are_checked_the_same_way() {
    for length in [0, 3] {
        let mut s = started();
        assert!(matches!(s.server_data(&claimed(b'D', length)), Next::Close(_)));
    }
    for kind in [b'D', b'E', b'Z'] {
        let mut s = started();
        let head = claimed(kind, u32::MAX);
        let mut out = forward(s.server_data(&head));
        for _ in 0..16 {
            out.extend(forward(s.server_data(&[7; 64 * 1024])));
            assert!(held(&s).1 < 5);
        }
        assert_eq!(out.len(), head.len() + 16 * 64 * 1024);
    }
}

#[test]
fn startup_lengths_out_of_range_close_the_connection() {
    for length in [u32::MAX, 0, 7, MAX_STARTUP + 1] {
        let mut s = Session::new(1024);
        let packet = [length.to_be_bytes(), 196_608u32.to_be_bytes()].concat();
        assert!(matches!(s.client_data(&packet, &mut judge), Next::Close(_)), "length {length}");
        assert!(held(&s).0 <= 8);
    }
}

trait Replace {
    fn replace(&self, from: &[u8], to: &[u8]) -> Vec<u8>;
}

impl Replace for Vec<u8> {
    /// The first occurrence of `from` replaced.
    fn replace(&self, from: &[u8], to: &[u8]) -> Vec<u8> {
        let at = self.windows(from.len()).position(|w| w == from).expect("present");
        [&self[..at], to, &self[at + from.len()..]].concat()
    }
}
