use super::numbers::{iban_ok, luhn_ok, ssn_ok};
use super::*;
use crate::mask::{Action, Masker};

/// What every built-in finds in `text`: (detector, value) pairs, as masking would replace them.
fn found(text: &str) -> Vec<(String, String)> {
    let all = names().iter().map(|n| (n.to_string(), Action::Redact)).collect();
    let masker = Masker::compile(&all, &[], Vec::new(), None).ok().expect("compiles");
    let hits = masker.find(&mut masker.cache(), text.as_bytes());
    hits.iter().map(|f| (masker.detector_name(f.detector).to_string(), text[f.start..f.end].to_string())).collect()
}

fn assert_finds(kind: &str, cases: &[(&str, &str)]) {
    for (text, value) in cases {
        assert_eq!(found(text), vec![(kind.to_string(), value.to_string())], "in {text:?}");
    }
}

fn assert_clean(cases: &[&str]) {
    for text in cases {
        assert_eq!(found(text), Vec::<(String, String)>::new(), "in {text:?}");
    }
}

#[test]
fn checksums() {
    assert!(luhn_ok(b"4111 1111 1111 1111"));
    assert!(luhn_ok(b"378282246310005"));
    assert!(!luhn_ok(b"4111 1111 1111 1112"));
    assert!(!luhn_ok(b"1234"));
    assert!(iban_ok(b"GB82 WEST 1234 5698 7654 32"));
    assert!(iban_ok(b"DE89370400440532013000"));
    assert!(!iban_ok(b"GB82 WEST 1234 5698 7654 33"));
    assert!(ssn_ok(b"123-45-6789"));
    assert!(!ssn_ok(b"000-45-6789") && !ssn_ok(b"666-45-6789") && !ssn_ok(b"900-45-6789"));
    assert!(!ssn_ok(b"123-00-6789") && !ssn_ok(b"123-45-0000"));
}

#[test]
fn phones_in_national_and_international_formats() {
    assert_finds(
        "phone",
        &[
            ("UK 020 7946 0958 office", "020 7946 0958"),
            ("mobile: 07700 900123", "07700 900123"),
            ("DE 030 12345678", "030 12345678"),
            ("DE +49 (0)30 1234567.", "+49 (0)30 1234567"),
            ("FR 01 23 45 67 89", "01 23 45 67 89"),
            ("ES 912 34 56 78", "912 34 56 78"),
            ("IT 06 1234 5678", "06 1234 5678"),
            ("NL 020-1234567", "020-1234567"),
            ("BR (11) 91234-5678", "(11) 91234-5678"),
            ("IN 98765 43210", "98765 43210"),
            ("JP 03-1234-5678", "03-1234-5678"),
            ("AU (02) 1234 5678", "(02) 1234 5678"),
            ("US 415-555-0134 x123", "415-555-0134 x123"),
            ("US (415) 555-0134 ext. 45", "(415) 555-0134 ext. 45"),
            ("intl 001-415-555-0134", "001-415-555-0134"),
            ("tel 3838016613", "3838016613"),
            ("NL +31(0)464-536294", "+31(0)464-536294"),
            ("DE +49(0) 663362694 ext. 94615", "+49(0) 663362694 ext. 94615"),
            ("IT +3908326534510", "+3908326534510"),
            ("AR +5491123457246 ext 319", "+5491123457246 ext 319"),
            ("NL 079 708 1177", "079 708 1177"),
            ("US \"+15173482670;ext=58\"", "+15173482670;ext=58"),
            ("Mi può chiamare al numero 377 409 295 domani", "377 409 295"),
            ("Bitte rufen Sie mich unter 0301234567 an", "0301234567"),
        ],
    );
}

#[test]
fn numbers_that_are_not_phones() {
    assert_clean(&["on 2024-01-15 at 12:30:45", "order 12345678 total 1 234 567", "ISBN 978-3-16-148410-0", "pi 0.123456789"]);
    assert_clean(&[r#"{"created_at": "2022-10-23T09:35:20.123Z"}"#, "2024-06-01 09:35:20,123 INFO", "2019-12-31/2020-01-01"]);
}

#[test]
fn a_date_hides_nothing_after_it() {
    // A date is skipped whole, and only a date: what is not one, or follows one, is still read.
    assert_finds("phone", &[("2024-06-01 +1 415 555 0134", "+1 415 555 0134"), ("call 2024-06-0134 now", "2024-06-0134")]);
    assert_finds("ipv4", &[("2024-06-01T09:35:20Z from 10.0.0.1", "10.0.0.1")]);
}

#[test]
fn bare_ssns_after_their_keyword() {
    assert_finds("us_ssn", &[(r#"{"SSN": "123456789"}"#, "123456789"), ("social security number 123456789", "123456789")]);
    assert_clean(&["invoice 123456789"]);
}

#[test]
fn a_table_column_is_named_by_its_header() {
    for table in [
        "id,name,ssn\n1,Jane Roe,123456789\n",
        "id;ssn;name\n7;123456789;Roe\n",
        "id\tSSN\n1\t123456789",
        "a|b|ssn\n1|2|123456789",
    ] {
        assert_eq!(found(table), vec![("us_ssn".to_string(), "123456789".to_string())], "in {table:?}");
    }
    // A quoted field's separators are not the table's: the value is still in the ssn column.
    assert_finds("us_ssn", &[("id,notes,ssn\n1,\"a,b;c\",123456789\n", "123456789")]);
    assert_finds("phone", &[("id,phone,email\n1,6602773806,x\n", "6602773806"), ("id;phone\n1;45 3373-8964\n", "45 3373-8964")]);
    assert_clean(&[
        // Another column.
        "id,ssn,order\n1,123-45-678,123456789\n",
        // In a table only the header names a value: an `ssn` in a row before it does not.
        "id,note,order\n1,ssn,123456789\n",
    ]);
    // A card column, though `imei` or `ean` are on the line before; no card in an `ean` column.
    assert_finds("credit_card", &[("card,created,imei\n4111111111111111,2021-04-08,1\n", "4111111111111111")]);
    assert_clean(&["id,ean\n1,4006381333931\n"]);
}

#[test]
fn the_nearest_keyword_names_a_value() {
    assert_eq!(
        found("kyc: ssn=400 59 1517 phone=072111419"),
        vec![("us_ssn".to_string(), "400 59 1517".to_string()), ("phone".to_string(), "072111419".to_string())]
    );
    assert_finds("us_ssn", &[("phone: none, ssn 123456789", "123456789")]);
    // Short keywords count at a word start only: `ean` is not in `Jean`, nor `tel` in `hotel`.
    assert_finds(
        "credit_card",
        &[
            ("Jean Dupont 4111 1111 1111 1111", "4111 1111 1111 1111"),
            ("order paid by card 4111111111111111", "4111111111111111"),
        ],
    );
    assert_clean(&["hotel 3838016613", "order=6505667637451942", "order=0259694467", "EAN 4006381333931"]);
}

#[test]
fn emails_with_apostrophes_and_unicode() {
    assert_finds(
        "email",
        &[
            ("to o'neil@example.com now", "o'neil@example.com"),
            ("to 'jane@example.com' now", "jane@example.com"),
            ("an josé.garcía@example.es bitte", "josé.garcía@example.es"),
            ("an info@bücher.de bitte", "info@bücher.de"),
        ],
    );
    assert_clean(&["git clone git@github.com:org/repo.git"]);
}

#[test]
fn card_groupings_and_look_alikes() {
    assert_finds(
        "credit_card",
        &[("card 4111 1111 1111 1111 003 ok", "4111 1111 1111 1111 003"), ("diners 3056 930902 5904", "3056 930902 5904")],
    );
    assert_clean(&["IMEI 490154203237518", "EAN 4006381333931", "ts 1701475200123456789"]);
}

#[test]
fn authorization_credentials() {
    assert_finds(
        "api_key",
        &[
            ("Authorization: Bearer 9f8e7d6c5b4a39281706abcdef", "9f8e7d6c5b4a39281706abcdef"),
            ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
        ],
    );
    assert_clean(&["Basic SGVsbG8gd29ybGQ= is not a credential", "Bearer authentication is described"]);
}

#[test]
fn more_token_prefixes() {
    let slack = "https://hooks.slack.com/workflows/T01234567/A01234567/123456789012345678/abcdefghijklmnop";
    let pypi = format!("pypi-AgEIcHlwaS5vcmc{}", "Cj".repeat(40));
    let sendgrid = format!("SG.{}.{}", "a".repeat(22), "B".repeat(43));
    for (kind, token) in [
        ("api_key", "glpat-aBcDeFgHiJkLmNoPqRsT"),
        ("api_key", sendgrid.as_str()),
        ("api_key", "hf_abcdefghijklmnopqrstuvwxyzABCDEFGH"),
        ("api_key", "npm_abcdefghijklmnopqrstuvwxyz0123456789"),
        ("api_key", pypi.as_str()),
        ("slack_token", "xapp-1-A0123456789-1234567890123-abcdef0123456789"),
        ("slack_token", slack),
    ] {
        assert_eq!(found(&format!("key {token} end")), vec![(kind.to_string(), token.to_string())]);
    }
}

#[test]
fn pgp_private_key_blocks() {
    let block = "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF0\n-----END PGP PRIVATE KEY BLOCK-----";
    assert_eq!(found(&format!("{block} done")), vec![("private_key".to_string(), block.to_string())]);
}

#[test]
fn publishable_keys_and_secret_references_are_not_secrets() {
    assert_clean(&[
        "stripe pk_live_0123456789abcdefABCD",
        r#"{"client_secret": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db"}"#,
        "password: vault:secret/data/db#password",
        "DB_PASSWORD=${DB_PASSWORD}",
        "token: {{ secrets.GITHUB_TOKEN }}",
    ]);
    assert_finds("api_key", &[(r#"{"db_password": "s3cr3t-P@ss!"}"#, "s3cr3t-P@ss!")]);
}

#[test]
fn numbers_that_are_not_addresses() {
    assert_clean(&[
        "netmask 255.255.255.0",
        "oid 1.3.6.1.4.1.311.21",
        "version 10.0.19041.1",
        "build v1.2.3.4",
        "fn Add::add(self)",
        "version 1.2.3.4",
    ]);
    assert_finds("ipv4", &[("from 10.0.12.7 ok", "10.0.12.7")]);
    assert_finds("ipv6", &[("via fe80::1: unreachable", "fe80::1")]);
}

#[test]
fn data_set_findings() {
    assert_finds("credit_card", &[("card=3593749642174220 ok", "3593749642174220")]);
    assert_eq!(found("phone=010 123 3179\n47.137.152.162 - -")[1], ("ipv4".to_string(), "47.137.152.162".to_string()));
    assert_finds(
        "api_key",
        &[
            ("headers={Authorization: Bearer --uT_urs30j3_vjt7blXTWPuneHcBdo9i~3C} host", "--uT_urs30j3_vjt7blXTWPuneHcBdo9i~3C"),
            ("loaded api_key=D6)2Kbex*(+YjT9Z_Mme8 version", "D6)2Kbex*(+YjT9Z_Mme8"),
            (r#"{"password": "w37_#5lG\u00263Ok3N#vB3i"}"#, r"w37_#5lG\u00263Ok3N#vB3i"),
        ],
    );
    assert_clean(&[
        r#"{"ref": "arn:aws:secretsmanager:us-east-1:678079812329:secret:prod/db-4n0DbO"}"#,
        "api_key: 'sk-XXXXXXXX'",
        "api_key : xoxb-your-token",
        "API_KEY=changeme",
        r#"{"order": "606-8692089-4284006"}"#,
        r#"{"os_version": "4.18.2.10", "oid": "2.5.29.37"}"#,
        "Gecko rv:1.9.6.20",
    ]);
}

#[test]
fn a_number_given_to_be_reached_by() {
    // Nine digits in the SSN ranges are an SSN, other lengths a phone number.
    assert_finds(
        "us_ssn",
        &[
            ("Reach me at 251776359.", "251776359"),
            ("Reach me at 054442155.", "054442155"),
            ("contact me at 429612635", "429612635"),
        ],
    );
    assert_finds(
        "phone",
        &[
            ("Reach me at 6226871500.", "6226871500"),
            ("Reach me at 999123456.", "999123456"),
            ("text me 0169048161", "0169048161"),
            ("phone: 251776359", "251776359"),
        ],
    );
    assert_finds("credit_card", &[("Reach me at 4111 1111 1111 1111.", "4111 1111 1111 1111")]);
    assert_finds("ipv4", &[("Reach me at 10.0.12.7.", "10.0.12.7")]);
    // Without such words, bare numbers stay: an id, an order, a timestamp, a GTIN, a zip+4.
    assert_clean(&[
        "id 251776359 and 6226871500",
        "Reach me at the office; order 251776359",
        "ts 1701475200",
        "EAN 4006381333931",
        "CA 94103-1234",
    ]);
}

#[test]
fn italian_mobiles_and_brazilian_numbers() {
    assert_finds(
        "phone",
        &[("IT 363 101 7344 ok", "363 101 7344"), ("BR 37 7773-0116", "37 7773-0116"), ("SP 11 91234-5678", "11 91234-5678")],
    );
    assert_clean(&["on 21 2024 1130", "ref 10 2024-2025", "ref 37 1773-0116", "123 101 7344", "ISBN 363-101-7344"]);
}

#[test]
fn a_keyword_the_window_cuts_from_its_word_does_not_count() {
    // 24 bytes back from the number start inside `Jeannine`: its `ean` is no GTIN's name.
    assert_finds("phone", &[("-- \nJeannine Martins\nTél. : 03 66 58 82 85\n", "03 66 58 82 85")]);
    assert_clean(&["EAN : 03 66 58 82 85"]);
}

#[test]
fn oids_after_snmp_and_lone_ipv6_prefixes() {
    assert_clean(&["IMEI 014953979639527 snmp 2.5.29.37 at 07:16:25", "MIB 1.3.6.1 loaded"]);
    assert_finds("ipv4", &[("snmp 10.0.12.7 ok", "10.0.12.7"), ("from 2.5.29.37 ok", "2.5.29.37")]);
    assert_finds("ipv6", &[(r#"{"ipv6": "fe80::"}"#, "fe80::"), ("net 2001:: up", "2001::")]);
    assert_clean(&["a::b::c failed", "std::vector", "call ab12::new()", "x = beef::"]);
}

#[test]
fn secret_manager_names_are_not_secrets() {
    assert_clean(&[
        "password: projects/brunet/secrets/api-key/versions/latest est jointe",
        r#"{"token": "projects/p/secrets/s"}"#,
    ]);
    assert_finds("api_key", &[("password: project-s3cr3t-P4ss", "project-s3cr3t-P4ss")]);
}
