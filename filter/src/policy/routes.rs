//! Routes: how each one matches, the one payload it reads, its masking, and the rules it lists.

use super::compile::Compiler;
use super::schema::*;
use super::suggest::closest;
use super::{LlmRoute, MaskRoute, McpRoute, Payload, Route, Rule, SqlRoute, MAX_BODY_LIMIT};
use crate::glob::Glob;
use crate::http::{PayloadSource, Preset, RouteMatcher};
use crate::json::Pointer;
use crate::llm::Provider;
use crate::mask::{CustomPattern, FieldMatch, FieldRule, MaskError, Masker};
use crate::mcp::McpSql;
use crate::sql::{Dialect, SearchPath};

impl Compiler {
    pub(super) fn route(
        &mut self,
        doc: &RouteDoc,
        path: &str,
        rule_docs: &[Option<RuleDoc>],
        rules: &[Option<Rule>],
    ) -> Option<Route> {
        let errors_before = self.errors.len();
        if doc.name.trim().is_empty() {
            self.error(format!("{path}.name"), "must not be empty");
        }
        let matcher = self.matcher(&doc.matcher, &format!("{path}.match"));
        let payload = self.payload(doc, path);
        let mask = doc.mask.as_ref().and_then(|m| self.mask(m, &format!("{path}.mask")));
        let (indexes, reads_json) = self.route_rules(doc, path, rule_docs, rules);
        if self.errors.len() > errors_before {
            return None;
        }
        Some(Route {
            name: doc.name.clone(),
            matcher: matcher?,
            payload: payload?,
            mask,
            reads_json,
            default: doc.default,
            rules: indexes,
        })
    }

    /// The one payload the route reads: on the wire always SQL in the protocol's dialect.
    fn payload(&mut self, doc: &RouteDoc, path: &str) -> Option<Payload> {
        let kinds: Vec<&str> = [
            (doc.sql.is_some(), "sql"),
            (doc.mcp.is_some(), "mcp"),
            (doc.graphql.is_some(), "graphql"),
            (doc.llm.is_some(), "llm"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect();
        if kinds.len() > 1 {
            let hint = match (&doc.sql, &doc.mcp, &doc.llm) {
                (Some(_), Some(_), _) => " (SQL in tool arguments goes under mcp.sql)",
                (Some(_), _, Some(_)) => " (SQL in tool arguments goes under llm.sql)",
                _ => "",
            };
            self.error(path, format!("a route reads one kind of payload, this one names {}{hint}", kinds.join(" and ")));
        }
        if let Some(default) = self.wire_dialect() {
            return self.wire_payload(doc, path, default);
        }
        // Every section is checked, so that all of their problems are reported at once.
        let sql = doc.sql.as_ref().map(|sql| self.sql_source(sql, &format!("{path}.sql")));
        let mcp = doc.mcp.as_ref().map(|mcp| self.mcp_route(mcp, &format!("{path}.mcp")));
        let llm = doc.llm.as_ref().map(|llm| self.llm_route(llm, &format!("{path}.llm")));
        match (sql, mcp, llm, &doc.graphql) {
            (Some(sql), ..) => sql.map(Payload::Sql),
            (None, Some(mcp), ..) => Some(Payload::Mcp(mcp)),
            (None, None, Some(llm), _) => llm.map(Payload::Llm),
            (None, None, None, Some(_)) => Some(Payload::Graphql),
            (None, None, None, None) => Some(Payload::Http),
        }
    }

    fn wire_payload(&mut self, doc: &RouteDoc, path: &str, default: Dialect) -> Option<Payload> {
        let sections = [
            (doc.mcp.is_some(), "mcp"),
            (doc.graphql.is_some(), "graphql"),
            (doc.llm.is_some(), "llm"),
            (doc.mask.is_some(), "mask"),
        ];
        for (present, key) in sections {
            if present {
                self.error(
                    format!("{path}.{key}"),
                    format!("not on a {:?} route: the filter reads the wire protocol", self.protocol).to_lowercase(),
                );
            }
        }
        if let Some(sql) = &doc.sql {
            if sql.preset.is_some() || sql.from.is_some() {
                self.error(
                    format!("{path}.sql"),
                    "on the wire the SQL is the protocol's: only `dialect` and `search_path` may be set",
                );
            }
        }
        let dialect = match doc.sql.as_ref().and_then(|s| s.dialect.as_deref()) {
            Some(name) => self.dialect(name, &format!("{path}.sql.dialect"))?,
            None => default,
        };
        let search_path = self.search_path(doc.sql.as_ref().and_then(|s| s.search_path.as_deref()), dialect, path);
        Some(Payload::Sql(SqlRoute { dialect, source: PayloadSource::Body, search_path }))
    }

    /// `sql.search_path`: schemas, each folded as the dialect folds an unquoted name unless it is
    /// double-quoted; `"$user"` stands for the session's user.
    fn search_path(&mut self, doc: Option<&[String]>, dialect: Dialect, path: &str) -> SearchPath {
        let Some(entries) = doc else { return SearchPath::server_default(dialect) };
        let mut schemas = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            match crate::sql::schema_names(entry, dialect).as_deref() {
                Some([name]) => schemas.push(name.clone()),
                _ => self.error(format!("{path}.sql.search_path[{i}]"), "one schema name per entry"),
            }
        }
        SearchPath::known(dialect, schemas)
    }

    /// The route's rule indexes, checked against what the route reads, and whether any rule
    /// looks into a JSON body.
    fn route_rules(
        &mut self,
        doc: &RouteDoc,
        path: &str,
        rule_docs: &[Option<RuleDoc>],
        rules: &[Option<Rule>],
    ) -> (Vec<usize>, bool) {
        let mut reads_json = false;
        let mut indexes = Vec::new();
        for (i, name) in doc.rules.iter().enumerate() {
            let rule_path = format!("{path}.rules[{i}]");
            match rule_docs.iter().position(|r| r.as_ref().is_some_and(|r| &r.name == name)) {
                None => {
                    let hint = closest(name, rule_docs.iter().flatten().map(|r| r.name.as_str()))
                        .map(|c| format!(" (did you mean {c:?}?)"))
                        .unwrap_or_default();
                    self.error(rule_path, format!("unknown rule {name:?}{hint}"));
                }
                Some(index) if indexes.contains(&index) => {
                    self.error(rule_path, format!("rule {name:?} is listed twice"));
                }
                Some(index) => {
                    if let Some(rule) = &rules[index] {
                        if let Some(missing) = self.unmet_condition(doc, rule) {
                            self.error(rule_path, format!("rule {name:?} has {missing}"));
                        }
                        reads_json |= !rule.json.is_empty() && doc.mcp.is_none() && doc.llm.is_none();
                    }
                    indexes.push(index);
                }
            }
        }
        (indexes, reads_json)
    }

    /// A condition of the rule that the route cannot give it anything to check against.
    fn unmet_condition(&self, doc: &RouteDoc, rule: &Rule) -> Option<&'static str> {
        let wire = self.wire_dialect().is_some();
        let reads_sql = wire
            || doc.sql.is_some()
            || doc.mcp.as_ref().is_some_and(|m| !m.sql.is_empty())
            || doc.llm.as_ref().is_some_and(|l| !l.sql.is_empty());
        if wire && (rule.http.is_some() || !rule.json.is_empty()) {
            Some("an http or json condition, but the route reads a database's wire protocol")
        } else if rule.sql.is_some() && !reads_sql {
            Some("a sql condition, but the route reads no SQL (add a sql section)")
        } else if rule.mcp.is_some() && doc.llm.is_some() {
            Some("an mcp condition on a model provider's route (a model's tool calls are matched with when.tool)")
        } else if rule.mcp.is_some() && doc.mcp.is_none() {
            Some("an mcp condition, but the route is not an MCP route (add an mcp section)")
        } else if rule.tool.is_some() && doc.mcp.is_none() && doc.llm.is_none() {
            Some("a tool condition, but the route carries no tool calls (add an mcp or llm section)")
        } else if rule.graphql.is_some() && doc.graphql.is_none() {
            Some("a graphql condition, but the route is not a GraphQL route (add a graphql section)")
        } else {
            None
        }
    }

    /// The protocol's own dialect, when the policy reads a wire protocol.
    pub(super) fn wire_dialect(&self) -> Option<Dialect> {
        match self.protocol {
            Protocol::Http => None,
            Protocol::Postgres => Some(Dialect::Postgres),
            Protocol::Mysql => Some(Dialect::Mysql),
        }
    }

    pub(super) fn matcher(&mut self, doc: &MatchDoc, path: &str) -> Option<RouteMatcher> {
        let mut matcher = RouteMatcher::default();
        let http_keys = [
            (doc.path_prefix.is_some(), "path_prefix"),
            (doc.path.is_some(), "path"),
            (doc.methods.is_some(), "methods"),
            (doc.authority.is_some(), "authority"),
            (!doc.headers.is_empty(), "headers"),
        ];
        let wire_keys = [(doc.database.is_some(), "database"), (doc.user.is_some(), "user")];
        let (wrong, expected) = if self.protocol == Protocol::Http {
            (&wire_keys[..], "an HTTP policy matches path, methods, authority and headers")
        } else {
            (&http_keys[..], "a wire policy matches database and user")
        };
        for (present, key) in wrong {
            if *present {
                self.error(format!("{path}.{key}"), format!("not here: {expected}"));
            }
        }
        matcher.database = doc.database.as_ref().and_then(|g| self.glob(&format!("{path}.database"), g, Glob::new));
        matcher.user = doc.user.as_ref().and_then(|g| self.glob(&format!("{path}.user"), g, Glob::new));
        if let Some(prefix) = &doc.path_prefix {
            if !prefix.starts_with('/') {
                self.error(format!("{path}.path_prefix"), "must start with '/'");
            }
            matcher.path_prefix = Some(crate::http::normalize_path(prefix));
        }
        if let Some(glob) = &doc.path {
            if !glob.starts_with('/') && !glob.starts_with('*') {
                self.error(format!("{path}.path"), "must start with '/'");
            }
            // A trailing slash is insignificant: the request path is read without one too.
            let glob = crate::http::without_trailing_slash(glob);
            matcher.path = self.glob(&format!("{path}.path"), glob, |p| Glob::with_separator(p, '/'));
        }
        if let Some(methods) = &doc.methods {
            self.non_empty(&format!("{path}.methods"), methods);
            let mut upper = Vec::new();
            for (i, m) in methods.iter().enumerate() {
                if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-') {
                    self.error(format!("{path}.methods[{i}]"), format!("{m:?} is not an HTTP method"));
                }
                upper.push(m.to_ascii_uppercase());
            }
            matcher.methods = Some(upper);
        }
        if let Some(authority) = &doc.authority {
            matcher.authority = self.glob(&format!("{path}.authority"), &authority.to_ascii_lowercase(), Glob::new);
        }
        for (i, header) in doc.headers.iter().enumerate() {
            if let Some(c) = self.header_condition(header, &format!("{path}.headers[{i}]")) {
                matcher.headers.push(c);
            }
        }
        Some(matcher)
    }

    fn sql_source(&mut self, doc: &SqlSourceDoc, path: &str) -> Option<SqlRoute> {
        let dialect = match &doc.dialect {
            Some(name) => Some(self.dialect(name, &format!("{path}.dialect"))?),
            None => None,
        };
        match (&doc.preset, &doc.from) {
            (Some(_), Some(_)) => {
                self.error(format!("{path}.from"), "a preset says where the SQL is: remove `from` or the preset");
                None
            }
            (Some(name), None) => match Preset::parse(name) {
                Some(preset) => {
                    let dialect = dialect.unwrap_or(preset.dialect());
                    let search_path = self.search_path(doc.search_path.as_deref(), dialect, route_path(path));
                    Some(SqlRoute { dialect, source: PayloadSource::Preset(preset), search_path })
                }
                None => {
                    self.error(
                        format!("{path}.preset"),
                        format!("unknown preset {name:?}, expected one of: {}", Preset::NAMES.join(", ")),
                    );
                    None
                }
            },
            (None, from) => {
                let Some(dialect) = dialect else {
                    self.error(format!("{path}.dialect"), "required unless a preset is given");
                    return None;
                };
                let source = match from.clone().unwrap_or(FromDoc::Body) {
                    FromDoc::Body => PayloadSource::Body,
                    FromDoc::Json(pointer) => {
                        if let Err(e) = crate::json::check_pointer(&pointer) {
                            self.error(format!("{path}.from.json"), e);
                            return None;
                        }
                        PayloadSource::Json(vec![pointer])
                    }
                    FromDoc::QueryParam(name) if name.is_empty() => {
                        self.error(format!("{path}.from.query_param"), "must not be empty");
                        return None;
                    }
                    FromDoc::QueryParam(name) => PayloadSource::QueryParam(name),
                    FromDoc::Form(name) if name.is_empty() => {
                        self.error(format!("{path}.from.form"), "must not be empty");
                        return None;
                    }
                    FromDoc::Form(name) => PayloadSource::Form(name),
                };
                let search_path = self.search_path(doc.search_path.as_deref(), dialect, route_path(path));
                Some(SqlRoute { dialect, source, search_path })
            }
        }
    }

    fn mcp_route(&mut self, doc: &McpRouteDoc, path: &str) -> McpRoute {
        McpRoute { sql: self.tool_sql(&doc.sql, "", path) }
    }

    /// `llm.sql` pointers name places in the arguments; they are kept relative to the call's
    /// `params`, as `mcp.sql`'s are, so both channels read SQL the same way.
    fn llm_route(&mut self, doc: &LlmRouteDoc, path: &str) -> Option<LlmRoute> {
        let provider = match doc.provider.as_str() {
            "openai" => Some(Provider::OpenAi),
            "anthropic" => Some(Provider::Anthropic),
            other => {
                self.error(format!("{path}.provider"), format!("unknown provider {other:?}, expected openai or anthropic"));
                None
            }
        };
        if doc.on_deny == OnDeny::Error && !self.proxy.allow_on_headers_stop_iteration {
            // The 403 replaces the whole answer, so its headers wait for the last tool call.
            let reason = "needs proxy.allow_on_headers_stop_iteration: true (set the same in Envoy's Wasm plugin config) \
                          so the answer's headers can wait for the decision; or use on_deny: rewrite";
            self.error(format!("{path}.on_deny"), reason);
        }
        let sql = self.tool_sql(&doc.sql, "/arguments", path);
        Some(LlmRoute { provider: provider?, on_deny: doc.on_deny, sql })
    }

    fn tool_sql(&mut self, entries: &[McpSqlDoc], prefix: &str, path: &str) -> Vec<McpSql> {
        let mut sql = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let path = format!("{path}.sql[{i}]");
            let tool = self.glob(&format!("{path}.tool"), &entry.tool, Glob::new);
            let pointer = crate::json::check_pointer(&entry.pointer)
                .and_then(|()| Pointer::parse(&format!("{prefix}{}", entry.pointer)))
                .map_err(|e| self.error(format!("{path}.pointer"), e))
                .ok();
            let dialect = self.dialect(&entry.dialect, &format!("{path}.dialect"));
            if let (Some(tool), Some(pointer), Some(dialect)) = (tool, pointer, dialect) {
                sql.push(McpSql { tool, pointer, dialect });
            }
        }
        sql
    }

    fn mask(&mut self, doc: &MaskDoc, path: &str) -> Option<MaskRoute> {
        let errors_before = self.errors.len();
        if doc.detectors.is_empty() && doc.patterns.is_empty() && doc.fields.is_empty() {
            self.error(path, "masks nothing: give detectors, patterns or fields");
        }
        if doc.max_body_bytes == 0 || doc.max_body_bytes > MAX_BODY_LIMIT {
            self.error(format!("{path}.max_body_bytes"), format!("must be between 1 and {MAX_BODY_LIMIT}"));
        }
        if doc.hash_key.as_deref().is_some_and(str::is_empty) {
            self.error(format!("{path}.hash_key"), "must not be empty (omit it for unkeyed hashes)");
        }
        let label_ok = |name: &str| !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
        for (i, pattern) in doc.patterns.iter().enumerate() {
            if !label_ok(&pattern.name) {
                self.error(format!("{path}.patterns[{i}].name"), "must be letters, digits, '_', '-' or '.'");
            }
        }
        let mut fields = Vec::new();
        for (i, field) in doc.fields.iter().enumerate() {
            let fpath = format!("{path}.fields[{i}]");
            let matcher = match (&field.name, &field.pointer) {
                (Some(name), None) => self.glob(&format!("{fpath}.name"), name, Glob::case_insensitive).map(FieldMatch::Name),
                (None, Some(pointer)) => match Pointer::parse(pointer) {
                    Ok(_) if pointer.is_empty() => {
                        self.error(format!("{fpath}.pointer"), "must name a field, not the whole document");
                        None
                    }
                    Ok(_) => Some(FieldMatch::Pointer(
                        pointer[1..].split('/').map(|s| s.replace("~1", "/").replace("~0", "~")).collect(),
                    )),
                    Err(e) => {
                        self.error(format!("{fpath}.pointer"), e);
                        None
                    }
                },
                _ => {
                    self.error(fpath, "set exactly one of name, pointer");
                    None
                }
            };
            let label = field.name.clone().or_else(|| field.pointer.clone()).unwrap_or_default();
            if !label.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\') {
                self.error(
                    format!("{path}.fields[{i}]"),
                    "names and pointers must be printable ASCII without quotes or backslashes",
                );
            }
            if let Some(matcher) = matcher {
                fields.push(FieldRule { matcher, action: field.action, label });
            }
        }
        let actor = doc.actor.as_ref().and_then(|a| self.actor(a, &format!("{path}.actor")));
        if self.errors.len() > errors_before {
            return None;
        }
        let custom: Vec<CustomPattern> =
            doc.patterns.iter().map(|p| CustomPattern { name: &p.name, regex: &p.regex, action: p.action }).collect();
        match Masker::compile(&doc.detectors, &custom, fields, doc.hash_key.as_deref()) {
            Ok(mut masker) => {
                masker.max_body_bytes = doc.max_body_bytes;
                Some(MaskRoute { masker, actor, on_unmaskable: doc.on_unmaskable })
            }
            Err(errors) => {
                for error in errors {
                    match error {
                        MaskError::UnknownDetector(name) => self.error(
                            format!("{path}.detectors.{name}"),
                            format!("unknown detector, expected one of: {}", crate::mask::detectors::names().join(", ")),
                        ),
                        MaskError::Pattern { index, message } => self.error(format!("{path}.patterns[{index}].regex"), message),
                        MaskError::Regex(message) => self.error(path, format!("patterns do not compile together: {message}")),
                    }
                }
                None
            }
        }
    }

    pub(super) fn dialect(&mut self, name: &str, path: &str) -> Option<Dialect> {
        let dialect = Dialect::parse(name);
        if dialect.is_none() {
            self.error(path, format!("unknown dialect {name:?}, expected one of: {}", Dialect::NAMES.join(", ")));
        }
        dialect
    }
}

/// The route's own path, from the path of its `sql` section.
fn route_path(sql_path: &str) -> &str {
    sql_path.strip_suffix(".sql").unwrap_or(sql_path)
}
