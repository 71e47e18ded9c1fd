//! Rules and their conditions: actor, sql, http, json, mcp, tool and graphql.

use super::compile::Compiler;
use super::schema::*;
use super::tables::split_table_pattern;
use super::{ActorMatch, ColumnMatch, GraphqlMatch, McpMatch, Rule, SqlMatch, TablePattern, ToolMatch};
use crate::glob::Glob;
use crate::graphql::OperationType;
use crate::identity::ActorKind;
use crate::json::{JsonCondition, JsonTest, Pointer};
use crate::sql::{Operation, OperationSet};

impl Compiler {
    pub(super) fn rule(&mut self, doc: &RuleDoc, path: &str) -> Option<Rule> {
        let errors_before = self.errors.len();
        if doc.name.trim().is_empty() {
            self.error(format!("{path}.name"), "must not be empty");
        }
        let actor = doc.when.actor.as_ref().and_then(|a| self.actor(a, &format!("{path}.when.actor")));
        let sql = doc.when.sql.as_ref().and_then(|s| self.sql_condition(s, &format!("{path}.when.sql")));
        let http = doc.when.http.as_ref().and_then(|m| self.matcher(m, &format!("{path}.when.http")));
        let json = match &doc.when.json {
            Some(list) => self.json_conditions(list, &format!("{path}.when.json")),
            None => Vec::new(),
        };
        let mcp = doc.when.mcp.as_ref().map(|m| self.mcp_condition(m, &format!("{path}.when.mcp")));
        let tool = doc.when.tool.as_ref().map(|t| self.tool_condition(t, &format!("{path}.when.tool")));
        let graphql = doc.when.graphql.as_ref().map(|g| self.graphql_condition(g, &format!("{path}.when.graphql")));
        if self.errors.len() > errors_before {
            return None;
        }
        Some(Rule {
            name: doc.name.clone(),
            effect: doc.effect,
            monitor: doc.mode == Mode::Monitor,
            message: doc.message.clone(),
            actor,
            sql,
            http,
            json,
            mcp,
            tool,
            graphql,
        })
    }

    pub(super) fn globs(&mut self, path: &str, list: &[String], make: fn(&str) -> Result<Glob, String>) -> Vec<Glob> {
        self.non_empty(path, list);
        list.iter().enumerate().filter_map(|(i, p)| self.glob(&format!("{path}[{i}]"), p, make)).collect()
    }

    fn json_conditions(&mut self, list: &[JsonConditionDoc], path: &str) -> Vec<JsonCondition> {
        self.non_empty(path, list);
        let mut compiled = Vec::new();
        for (i, doc) in list.iter().enumerate() {
            let path = format!("{path}[{i}]");
            let pointer = match Pointer::parse(&doc.pointer) {
                Ok(p) => p,
                Err(e) => {
                    self.error(format!("{path}.pointer"), e);
                    continue;
                }
            };
            let test = match (&doc.equals, &doc.glob, doc.exists) {
                (Some(value), None, None) => JsonTest::Equals(value.clone()),
                (None, Some(glob), None) => match self.glob(&format!("{path}.glob"), glob, Glob::new) {
                    Some(g) => JsonTest::Glob(g),
                    None => continue,
                },
                (None, None, Some(exists)) => JsonTest::Exists(exists),
                _ => {
                    self.error(path, "set exactly one of equals, glob, exists");
                    continue;
                }
            };
            compiled.push(JsonCondition { pointer, test });
        }
        compiled
    }

    fn mcp_condition(&mut self, doc: &McpConditionDoc, path: &str) -> McpMatch {
        let list = |c: &mut Compiler, key: &str, value: &Option<Vec<String>>| {
            value.as_ref().map(|l| c.globs(&format!("{path}.{key}"), l, Glob::new))
        };
        McpMatch {
            methods: list(self, "methods", &doc.methods),
            tools: list(self, "tools", &doc.tools),
            resources: list(self, "resources", &doc.resources),
            prompts: list(self, "prompts", &doc.prompts),
            params: match &doc.params {
                Some(p) => self.json_conditions(p, &format!("{path}.params")),
                None => Vec::new(),
            },
        }
    }

    fn tool_condition(&mut self, doc: &ToolConditionDoc, path: &str) -> ToolMatch {
        ToolMatch {
            names: doc.names.as_ref().map(|l| self.globs(&format!("{path}.names"), l, Glob::new)),
            arguments: match &doc.arguments {
                Some(list) => self.json_conditions(list, &format!("{path}.arguments")),
                None => Vec::new(),
            },
        }
    }

    fn graphql_condition(&mut self, doc: &GraphqlConditionDoc, path: &str) -> GraphqlMatch {
        let operations = doc.operations.as_ref().map(|ops| {
            self.non_empty(&format!("{path}.operations"), ops);
            let mut kinds = Vec::new();
            for (i, name) in ops.iter().enumerate() {
                match OperationType::parse(&name.to_ascii_lowercase()) {
                    Some(kind) => kinds.push(kind),
                    None => self.error(
                        format!("{path}.operations[{i}]"),
                        format!("unknown GraphQL operation {name:?}, expected one of: {}", OperationType::NAMES.join(", ")),
                    ),
                }
            }
            kinds
        });
        let fields = doc.fields.as_ref().map(|f| self.globs(&format!("{path}.fields"), f, Glob::new));
        GraphqlMatch { operations, fields }
    }

    pub(super) fn actor(&mut self, doc: &ActorDoc, path: &str) -> Option<ActorMatch> {
        let detail = match doc {
            ActorDoc::Kind(kind) => ActorDetailDoc { kind: Some(kind.clone()), ..Default::default() },
            ActorDoc::Detailed(d) => d.clone(),
        };
        let kind_path = if matches!(doc, ActorDoc::Kind(_)) { path.to_string() } else { format!("{path}.kind") };
        let kind = match detail.kind.as_deref() {
            None | Some("any") => None,
            Some("agent") => Some(ActorKind::Agent),
            Some("human") => Some(ActorKind::Human),
            Some(other) => {
                self.error(kind_path, format!("unknown actor kind {other:?}, expected agent, human or any"));
                return None;
            }
        };
        let principals = match &detail.principals {
            None => None,
            Some(list) => {
                self.non_empty(&format!("{path}.principals"), list);
                let globs: Vec<Option<Glob>> =
                    list.iter().enumerate().map(|(i, p)| self.glob(&format!("{path}.principals[{i}]"), p, Glob::new)).collect();
                Some(globs.into_iter().collect::<Option<Vec<_>>>()?)
            }
        };
        Some(ActorMatch { kind, principals, anonymous: detail.anonymous })
    }

    fn sql_condition(&mut self, doc: &SqlConditionDoc, path: &str) -> Option<SqlMatch> {
        let mut m = SqlMatch { unbounded: doc.unbounded, ..Default::default() };
        if let Some(ops) = &doc.operations {
            self.non_empty(&format!("{path}.operations"), ops);
            let mut set = OperationSet::EMPTY;
            for (i, name) in ops.iter().enumerate() {
                match Operation::parse(&name.to_ascii_lowercase()) {
                    Some(op) => set.insert(op),
                    None => {
                        let names: Vec<&str> = Operation::ALL.iter().map(|o| o.as_str()).collect();
                        self.error(
                            format!("{path}.operations[{i}]"),
                            format!("unknown operation {name:?}, expected one of: {}", names.join(", ")),
                        )
                    }
                }
            }
            m.operations = Some(set);
        }
        if let Some(tables) = &doc.tables {
            self.non_empty(&format!("{path}.tables"), tables);
            let mut patterns = Vec::new();
            for (i, table) in tables.iter().enumerate() {
                let tpath = format!("{path}.tables[{i}]");
                let parts: Vec<Option<Glob>> =
                    split_table_pattern(table).iter().map(|part| self.glob(&tpath, part, Glob::case_insensitive)).collect();
                if let Some(parts) = parts.into_iter().collect::<Option<Vec<_>>>() {
                    patterns.push(TablePattern { parts });
                }
            }
            m.tables = Some(patterns);
        }
        if let Some(columns) = &doc.columns {
            let cpath = format!("{path}.columns");
            let compile = |c: &mut Compiler, list: &[String], key: &str| -> Vec<Glob> {
                c.non_empty(&format!("{cpath}.{key}"), list);
                list.iter()
                    .enumerate()
                    .filter_map(|(i, p)| c.glob(&format!("{cpath}.{key}[{i}]"), p, Glob::case_insensitive))
                    .collect()
            };
            m.columns = match (&columns.only, &columns.any) {
                (Some(only), None) => Some(ColumnMatch::Only(compile(self, only, "only"))),
                (None, Some(any)) => Some(ColumnMatch::Any(compile(self, any, "any"))),
                _ => {
                    self.error(cpath, "set exactly one of only, any");
                    None
                }
            };
        }
        Some(m)
    }
}
