//! GraphQL requests: which operations they run and the root fields each one selects.
//!
//! Documents are read wherever a server reads them (a JSON body, a batch array, an
//! `application/graphql` body, the `query` parameter) and parsed with `graphql-parser`, whose
//! tokenizer bounds nesting. Root fields are seen through aliases (`ok: deleteUser`), inline
//! fragments and fragment spreads, so a mutation cannot hide behind a fragment. With an
//! `operationName` only the operations of that name count (the others do not run); without one,
//! every operation in the document does.

use graphql_parser::query::{self as ast, Definition, OperationDefinition, Selection};
use serde_json::Value;

use crate::http::{parse_strict_json, ExtractError, Request};

/// Root fields one operation may expand to through fragments, before it is refused.
const MAX_ROOT_FIELDS: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum OperationType {
    Query,
    Mutation,
    Subscription,
}

impl OperationType {
    pub const NAMES: [&'static str; 3] = ["query", "mutation", "subscription"];

    pub fn parse(name: &str) -> Option<OperationType> {
        match name {
            "query" => Some(OperationType::Query),
            "mutation" => Some(OperationType::Mutation),
            "subscription" => Some(OperationType::Subscription),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// One operation a request runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    pub kind: OperationType,
    pub name: Option<String>,
    /// Root field names (not aliases), sorted, without duplicates.
    pub fields: Vec<String>,
}

/// Every operation the request runs. A request with no document, or one that does not parse,
/// is an error: the filter cannot tell what it would do.
pub fn operations(request: &Request, body: Option<&[u8]>) -> Result<Vec<Operation>, ExtractError> {
    let mut documents: Vec<(String, Option<String>)> = Vec::new();
    let names = request.query_values("operationName");
    for query in request.query_values("query") {
        documents.push((query, names.first().cloned()));
    }
    if let Some(body) = body.filter(|b| !b.is_empty()) {
        let text = std::str::from_utf8(body).map_err(|e| ExtractError::Malformed(format!("body is not UTF-8 ({e})")))?;
        let content_type = request.header("content-type").unwrap_or("").to_ascii_lowercase();
        if content_type.starts_with("application/graphql") {
            documents.push((text.to_string(), names.first().cloned()));
        } else if content_type.starts_with("multipart/") {
            return Err(ExtractError::Encoded("GraphQL in a multipart body is not read".to_string()));
        } else {
            match parse_strict_json(text)? {
                Value::Array(batch) if !batch.is_empty() => {
                    for entry in &batch {
                        documents.push(json_document(entry)?);
                    }
                }
                entry @ Value::Object(_) => documents.push(json_document(&entry)?),
                _ => return Err(ExtractError::Malformed("GraphQL body is not an object or a batch of them".to_string())),
            }
        }
    }
    if documents.is_empty() {
        return Err(ExtractError::Missing("no GraphQL document in the request".to_string()));
    }
    let mut found = Vec::new();
    for (text, name) in &documents {
        found.extend(document_operations(text, name.as_deref())?);
    }
    Ok(found)
}

fn json_document(entry: &Value) -> Result<(String, Option<String>), ExtractError> {
    let name = match entry.get("operationName") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name.clone()),
        Some(_) => return Err(ExtractError::Malformed("operationName is not a string".to_string())),
    };
    match entry.get("query") {
        Some(Value::String(query)) => Ok((query.clone(), name)),
        None | Some(Value::Null) if entry.pointer("/extensions/persistedQuery").is_some() => {
            Err(ExtractError::Malformed("a persisted query without its document cannot be inspected".to_string()))
        }
        _ => Err(ExtractError::Malformed("GraphQL request without a \"query\" string".to_string())),
    }
}

/// The operations of one document that run under `operation_name`.
pub fn document_operations(text: &str, operation_name: Option<&str>) -> Result<Vec<Operation>, ExtractError> {
    let document = ast::parse_query::<&str>(text)
        .map_err(|e| ExtractError::Malformed(format!("GraphQL does not parse: {}", e.to_string().trim())))?;
    let fragments: Vec<&ast::FragmentDefinition<&str>> = document
        .definitions
        .iter()
        .filter_map(|d| match d {
            Definition::Fragment(f) => Some(f),
            Definition::Operation(_) => None,
        })
        .collect();
    let mut all = Vec::new();
    for definition in &document.definitions {
        let Definition::Operation(operation) = definition else { continue };
        let (kind, name, selection) = match operation {
            OperationDefinition::SelectionSet(s) => (OperationType::Query, None, s),
            OperationDefinition::Query(q) => (OperationType::Query, q.name, &q.selection_set),
            OperationDefinition::Mutation(m) => (OperationType::Mutation, m.name, &m.selection_set),
            OperationDefinition::Subscription(s) => (OperationType::Subscription, s.name, &s.selection_set),
        };
        let mut fields = Vec::new();
        let mut visited = Vec::new();
        root_fields(selection, &fragments, &mut visited, &mut fields)?;
        fields.sort_unstable();
        fields.dedup();
        all.push(Operation { kind, name: name.map(str::to_string), fields });
    }
    if all.is_empty() {
        return Err(ExtractError::Malformed("GraphQL document has no operation".to_string()));
    }
    if let Some(wanted) = operation_name {
        if all.iter().any(|op| op.name.as_deref() == Some(wanted)) {
            all.retain(|op| op.name.as_deref() == Some(wanted));
        }
    }
    Ok(all)
}

/// Root fields of a selection set; fragment spreads are followed once each (a cycle is a
/// validation error in GraphQL, and must not loop here).
fn root_fields<'d>(
    selection: &'d ast::SelectionSet<'d, &'d str>,
    fragments: &[&'d ast::FragmentDefinition<'d, &'d str>],
    visited: &mut Vec<&'d str>,
    out: &mut Vec<String>,
) -> Result<(), ExtractError> {
    // Work list instead of recursion: fragments may nest as deep as the document allows.
    let mut pending: Vec<&ast::SelectionSet<&str>> = vec![selection];
    while let Some(set) = pending.pop() {
        for item in &set.items {
            match item {
                Selection::Field(field) => out.push(field.name.to_string()),
                Selection::InlineFragment(inline) => pending.push(&inline.selection_set),
                Selection::FragmentSpread(spread) => {
                    if visited.contains(&spread.fragment_name) {
                        continue;
                    }
                    visited.push(spread.fragment_name);
                    match fragments.iter().find(|f| f.name == spread.fragment_name) {
                        Some(fragment) => pending.push(&fragment.selection_set),
                        None => {
                            return Err(ExtractError::Malformed(format!(
                                "GraphQL fragment {:?} is not defined",
                                spread.fragment_name
                            )))
                        }
                    }
                }
            }
            if out.len() > MAX_ROOT_FIELDS {
                return Err(ExtractError::Malformed(format!("GraphQL operation selects over {MAX_ROOT_FIELDS} root fields")));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(text: &str) -> Vec<Operation> {
        document_operations(text, None).unwrap()
    }

    #[test]
    fn root_fields_are_seen_through_aliases_and_fragments() {
        let found = ops("mutation M { ok: deleteUser(id: 1) { id } ...More ... on Mutation { dropProject(id: 2) } }
             fragment More on Mutation { renameUser { id } ...Again }
             fragment Again on Mutation { ...More purge }");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, OperationType::Mutation);
        assert_eq!(found[0].fields, vec!["deleteUser", "dropProject", "purge", "renameUser"]);
    }

    #[test]
    fn operation_name_selects_and_shorthand_is_a_query() {
        let text = "query Q { users { id } } mutation M { deleteUser(id: 1) }";
        assert_eq!(document_operations(text, Some("Q")).unwrap().len(), 1);
        assert_eq!(document_operations(text, None).unwrap().len(), 2);
        // A name that is not in the document selects nothing: all operations count.
        assert_eq!(document_operations(text, Some("Nope")).unwrap().len(), 2);
        assert_eq!(ops("{ __schema { types { name } } }")[0].kind, OperationType::Query);
    }

    #[test]
    fn broken_and_hostile_documents_are_errors_not_panics() {
        assert!(document_operations("mutation { ", None).is_err());
        assert!(document_operations("fragment F on Q { a }", None).is_err());
        assert!(document_operations("{ ...Missing }", None).is_err());
        let deep = format!("{}{}", "{ a ".repeat(5000), "}".repeat(5000));
        assert!(document_operations(&deep, None).is_err());
        let deep_value = format!("{{ a(x: {}1{}) }}", "[".repeat(5000), "]".repeat(5000));
        assert!(document_operations(&deep_value, None).is_err());
    }

    #[test]
    fn documents_are_read_from_every_place_a_server_reads_them() {
        let get = Request::new("GET", "/graphql?query=mutation%7BdeleteUser%7D", "h", vec![]);
        assert_eq!(operations(&get, None).unwrap()[0].fields, vec!["deleteUser"]);
        let json = Request::new("POST", "/graphql", "h", vec![("content-type".into(), "application/json".into())]);
        let batch = br#"[{"query":"{ users { id } }"},{"query":"mutation { deleteUser }","operationName":null}]"#;
        let found = operations(&json, Some(batch)).unwrap();
        assert_eq!(found.iter().map(|o| o.kind).collect::<Vec<_>>(), vec![OperationType::Query, OperationType::Mutation]);
        let raw = Request::new("POST", "/graphql", "h", vec![("content-type".into(), "application/graphql".into())]);
        assert_eq!(operations(&raw, Some(b"mutation { x }")).unwrap()[0].kind, OperationType::Mutation);
        let apq = br#"{"extensions":{"persistedQuery":{"version":1,"sha256Hash":"abc"}}}"#;
        assert!(matches!(operations(&json, Some(apq)), Err(ExtractError::Malformed(_))));
        assert!(matches!(operations(&json, None), Err(ExtractError::Missing(_))));
        assert!(operations(&json, Some(br#"{"query":"{a}","query":"mutation{b}"}"#)).is_err());
    }
}
